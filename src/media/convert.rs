//! Camera pictures to the I420 frames we send: packed YUYV (4:2:2) and RGB24, centre-cropped
//! to the output's aspect ratio and area-averaged to its size. Pure functions, so that they
//! are tested without a camera (and in builds without the `camera` feature).

use crate::render::frame::{FrameError, I420Frame, I420Planes, Rgb, check_dimensions, rgb_to_yuv};

/// A rectangle of a plane, in that plane's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// The largest centred part of a `width x height` picture with the aspect ratio of
/// `out_width x out_height`: a 16:9 camera sent as 4:3 loses its sides, not its shape.
pub fn centre_crop(width: usize, height: usize, out_width: usize, out_height: usize) -> Rect {
    let (w, h) = if width * out_height > height * out_width {
        ((height * out_width / out_height.max(1)).max(1), height)
    } else {
        (width, (width * out_height / out_width.max(1)).max(1))
    };
    Rect {
        x: (width - w) / 2,
        y: (height - h) / 2,
        width: w,
        height: h,
    }
}

/// Averages each output pixel over the part of `crop` it covers (nearest pixel when
/// enlarging). `plane` is `stride` bytes a row and holds every row of `crop`.
fn resample(plane: &[u8], stride: usize, crop: Rect, out_w: usize, out_h: usize) -> Vec<u8> {
    let spans = |start: usize, len: usize, out: usize| -> Vec<(usize, usize)> {
        (0..out)
            .map(|i| {
                let a = start + i * len / out;
                let b = (start + (i + 1) * len / out).max(a + 1);
                (a, b)
            })
            .collect()
    };
    let cols = spans(crop.x, crop.width, out_w);
    let rows = spans(crop.y, crop.height, out_h);
    let mut out = Vec::with_capacity(out_w * out_h);
    for &(y0, y1) in &rows {
        for &(x0, x1) in &cols {
            let mut sum = 0u32;
            for y in y0..y1 {
                let row = &plane[y * stride..];
                sum += row[x0..x1].iter().map(|&b| u32::from(b)).sum::<u32>();
            }
            let n = ((y1 - y0) * (x1 - x0)) as u32;
            out.push(((sum + n / 2) / n) as u8);
        }
    }
    out
}

/// Full-resolution planes (chroma possibly subsampled horizontally by `chroma_div`)
/// cropped and scaled to an `out_width x out_height` I420 frame.
fn planes_to_i420(
    (width, height): (usize, usize),
    y: &[u8],
    u: &[u8],
    v: &[u8],
    chroma_div: usize,
    (out_width, out_height): (u32, u32),
) -> Result<I420Frame, FrameError> {
    check_dimensions(out_width, out_height)?;
    let (ow, oh) = (out_width as usize, out_height as usize);
    let crop = centre_crop(width, height, ow, oh);
    let chroma_stride = width.div_ceil(chroma_div);
    let chroma_crop = Rect {
        x: crop.x / chroma_div,
        width: (crop.width / chroma_div).max(1),
        ..crop
    };
    let (cw, ch) = (ow.div_ceil(2), oh.div_ceil(2));
    let y = resample(y, width, crop, ow, oh);
    let u = resample(u, chroma_stride, chroma_crop, cw, ch);
    let v = resample(v, chroma_stride, chroma_crop, cw, ch);
    I420Frame::from_planes(I420Planes {
        width: out_width,
        height: out_height,
        y: &y,
        y_stride: ow,
        u: &u,
        u_stride: cw,
        v: &v,
        v_stride: cw,
    })
}

/// A packed picture must hold `height` rows of `stride` bytes.
fn check_len(
    plane: &'static str,
    data: &[u8],
    stride: usize,
    (width, height): (u32, u32),
) -> Result<(), FrameError> {
    let needed = stride * height as usize;
    if data.len() < needed {
        return Err(FrameError::ShortPlane {
            plane,
            got: data.len(),
            needed,
            width,
            height,
            stride,
        });
    }
    Ok(())
}

/// How a camera packs its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packed {
    /// Y0 U Y1 V for each pair of pixels, rows of `4 * ceil(width/2)` bytes, as V4L2
    /// cameras deliver it.
    Yuyv,
    /// R G B, as a decoded MJPEG frame.
    Rgb24,
}

/// A packed `width x height` picture (longer buffers are fine) as an I420 frame of the
/// output size.
pub fn packed_to_i420(
    layout: Packed,
    (width, height): (u32, u32),
    data: &[u8],
    out: (u32, u32),
) -> Result<I420Frame, FrameError> {
    check_dimensions(width, height)?;
    let (w, h) = (width as usize, height as usize);
    match layout {
        Packed::Yuyv => {
            let pairs = w.div_ceil(2);
            let row_bytes = pairs * 4;
            check_len("YUYV", data, row_bytes, (width, height))?;
            let mut y = Vec::with_capacity(w * h);
            let mut u = Vec::with_capacity(pairs * h);
            let mut v = Vec::with_capacity(pairs * h);
            for row in data.chunks_exact(row_bytes).take(h) {
                for (i, quad) in row.chunks_exact(4).enumerate() {
                    y.push(quad[0]);
                    // An odd width leaves the last pair's second pixel outside the picture.
                    if 2 * i + 1 < w {
                        y.push(quad[2]);
                    }
                    u.push(quad[1]);
                    v.push(quad[3]);
                }
            }
            planes_to_i420((w, h), &y, &u, &v, 2, out)
        }
        Packed::Rgb24 => {
            check_len("RGB", data, w * 3, (width, height))?;
            let mut y = Vec::with_capacity(w * h);
            let mut u = Vec::with_capacity(w * h);
            let mut v = Vec::with_capacity(w * h);
            for p in data.chunks_exact(3).take(w * h) {
                let (py, pu, pv) = rgb_to_yuv(Rgb::new(p[0], p[1], p[2]));
                y.push(py);
                u.push(pu);
                v.push(pv);
            }
            planes_to_i420((w, h), &y, &u, &v, 1, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RED: Rgb = Rgb::new(220, 30, 30);
    const BLUE: Rgb = Rgb::new(30, 40, 210);

    fn close(a: Rgb, b: Rgb) -> bool {
        a.r.abs_diff(b.r) < 12 && a.g.abs_diff(b.g) < 12 && a.b.abs_diff(b.b) < 12
    }

    /// A picture whose left half is red and right half blue, as YUYV.
    fn halves_yuyv(width: usize, height: usize) -> Vec<u8> {
        let mut data = Vec::new();
        for _ in 0..height {
            for pair in 0..width.div_ceil(2) {
                let c = if 2 * pair < width / 2 { RED } else { BLUE };
                let (y, u, v) = rgb_to_yuv(c);
                data.extend_from_slice(&[y, u, y, v]);
            }
        }
        data
    }

    #[test]
    fn yuyv_halves_land_on_the_right_sides_scaled_down() {
        let f =
            packed_to_i420(Packed::Yuyv, (640, 480), &halves_yuyv(640, 480), (320, 240)).unwrap();
        assert_eq!((f.width(), f.height()), (320, 240));
        for y in [0, 120, 239] {
            assert!(close(f.pixel(10, y), RED), "{:?}", f.pixel(10, y));
            assert!(close(f.pixel(150, y), RED));
            assert!(close(f.pixel(170, y), BLUE), "{:?}", f.pixel(170, y));
            assert!(close(f.pixel(319, y), BLUE));
        }
    }

    #[test]
    fn yuyv_pixels_keep_their_own_luma() {
        // One pair: a black and a white pixel sharing grey chroma.
        let f = packed_to_i420(Packed::Yuyv, (2, 1), &[16, 128, 235, 128], (2, 1)).unwrap();
        assert_eq!(f.y(), &[16, 235]);
        assert_eq!((f.u(), f.v()), (&[128][..], &[128][..]));
    }

    #[test]
    fn odd_sizes_convert_without_panicking() {
        for (w, h, ow, oh) in [
            (3, 3, 3, 3),
            (5, 1, 1, 1),
            (1, 1, 7, 5),
            (641, 479, 321, 239),
        ] {
            let data = halves_yuyv(w, h);
            let f = packed_to_i420(Packed::Yuyv, (w as u32, h as u32), &data, (ow, oh)).unwrap();
            assert_eq!((f.width(), f.height()), (ow, oh));
            let rgb = vec![7u8; w * h * 3];
            assert!(packed_to_i420(Packed::Rgb24, (w as u32, h as u32), &rgb, (ow, oh)).is_ok());
        }
    }

    #[test]
    fn short_and_empty_buffers_are_errors() {
        assert!(matches!(
            packed_to_i420(Packed::Yuyv, (640, 480), &[0; 100], (320, 240)),
            Err(FrameError::ShortPlane { plane: "YUYV", .. })
        ));
        assert!(matches!(
            packed_to_i420(Packed::Rgb24, (4, 4), &[0; 47], (2, 2)),
            Err(FrameError::ShortPlane { plane: "RGB", .. })
        ));
        assert!(packed_to_i420(Packed::Yuyv, (0, 480), &[], (320, 240)).is_err());
        assert!(packed_to_i420(Packed::Yuyv, (2, 2), &[0; 8], (0, 240)).is_err());
        assert!(packed_to_i420(Packed::Rgb24, (100_000, 100_000), &[], (320, 240)).is_err());
    }

    #[test]
    fn rgb_quadrants_stay_in_their_corners_and_wide_pictures_lose_their_sides() {
        // 16:9, 64x36: green bars at the far left and right, red above, blue below.
        let (w, h) = (64usize, 36usize);
        let green = Rgb::new(30, 200, 40);
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let c = if !(8..56).contains(&x) {
                    green
                } else if y < h / 2 {
                    RED
                } else {
                    BLUE
                };
                data.extend_from_slice(&[c.r, c.g, c.b]);
            }
        }
        let f = packed_to_i420(Packed::Rgb24, (w as u32, h as u32), &data, (32, 24)).unwrap();
        // The 4:3 centre is columns 8..56: no green survives.
        assert!(close(f.pixel(0, 0), RED), "{:?}", f.pixel(0, 0));
        assert!(close(f.pixel(31, 0), RED));
        assert!(close(f.pixel(0, 23), BLUE));
        assert!(close(f.pixel(31, 23), BLUE), "{:?}", f.pixel(31, 23));
    }

    #[test]
    fn centre_crops_keep_the_output_shape() {
        let r = centre_crop(1280, 720, 320, 240);
        assert_eq!(
            r,
            Rect {
                x: 160,
                y: 0,
                width: 960,
                height: 720
            }
        );
        let r = centre_crop(480, 640, 320, 240);
        assert_eq!(
            r,
            Rect {
                x: 0,
                y: 140,
                width: 480,
                height: 360
            }
        );
        assert_eq!(centre_crop(640, 480, 320, 240).width, 640);
    }
}
