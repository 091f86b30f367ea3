//! Picture types shared by the decoders and the renderer: RGB colours and I420 frames.

use std::fmt;

/// One 8-bit sRGB colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Rgb {
    pub const BLACK: Rgb = Rgb::new(0, 0, 0);

    pub const fn new(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b }
    }
}

/// Why a set of planes could not become an [`I420Frame`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame size {width}x{height} is empty")]
    Empty { width: u32, height: u32 },
    #[error("frame size {width}x{height} exceeds the limit of {max}x{max} pixels")]
    TooLarge { width: u32, height: u32, max: u32 },
    #[error(
        "{plane} plane has {got} bytes, {needed} needed for {width}x{height} (stride {stride})"
    )]
    ShortPlane {
        plane: &'static str,
        got: usize,
        needed: usize,
        width: u32,
        height: u32,
        stride: usize,
    },
}

/// The largest width or height accepted from any file or stream (8K plus headroom).
/// Anything larger is treated as corrupt input rather than allocated.
pub const MAX_DIMENSION: u32 = 8192;

/// Checks a frame size against [`MAX_DIMENSION`] before anything is allocated for it.
pub fn check_dimensions(width: u32, height: u32) -> Result<(), FrameError> {
    if width == 0 || height == 0 {
        return Err(FrameError::Empty { width, height });
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(FrameError::TooLarge {
            width,
            height,
            max: MAX_DIMENSION,
        });
    }
    Ok(())
}

/// A decoded 4:2:0 picture with tightly packed planes (BT.601 limited range, as WebRTC
/// and y4m files use). Chroma planes are `ceil(width/2) x ceil(height/2)`.
#[derive(Clone, PartialEq, Eq)]
pub struct I420Frame {
    width: u32,
    height: u32,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl fmt::Debug for I420Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "I420Frame({}x{})", self.width, self.height)
    }
}

/// Borrowed planes of a 4:2:0 picture with arbitrary strides, as decoders hand them out.
#[derive(Clone, Copy, Debug)]
pub struct I420Planes<'a> {
    pub width: u32,
    pub height: u32,
    pub y: &'a [u8],
    pub y_stride: usize,
    pub u: &'a [u8],
    pub u_stride: usize,
    pub v: &'a [u8],
    pub v_stride: usize,
}

impl I420Frame {
    /// Copies strided planes into a packed frame, checking every plane is long enough.
    pub fn from_planes(p: I420Planes<'_>) -> Result<Self, FrameError> {
        check_dimensions(p.width, p.height)?;
        let (w, h) = (p.width as usize, p.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let y = pack_plane("Y", p.y, p.y_stride, w, h, p.width, p.height)?;
        let u = pack_plane("U", p.u, p.u_stride, cw, ch, p.width, p.height)?;
        let v = pack_plane("V", p.v, p.v_stride, cw, ch, p.width, p.height)?;
        Ok(Self {
            width: p.width,
            height: p.height,
            y,
            u,
            v,
        })
    }

    /// Builds a frame from one packed buffer laid out Y, then U, then V (the y4m layout).
    pub fn from_packed(width: u32, height: u32, data: &[u8]) -> Result<Self, FrameError> {
        check_dimensions(width, height)?;
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let y_len = w * h;
        let c_len = cw * ch;
        if data.len() < y_len + 2 * c_len {
            return Err(FrameError::ShortPlane {
                plane: "YUV",
                got: data.len(),
                needed: y_len + 2 * c_len,
                width,
                height,
                stride: w,
            });
        }
        Ok(Self {
            width,
            height,
            y: data[..y_len].to_vec(),
            u: data[y_len..y_len + c_len].to_vec(),
            v: data[y_len + c_len..y_len + 2 * c_len].to_vec(),
        })
    }

    /// Converts an RGB picture (row-major, `width * height` pixels) to I420.
    /// Chroma is the average of each 2x2 block. Used for test cards and tests.
    pub fn from_rgb(width: u32, height: u32, pixels: &[Rgb]) -> Result<Self, FrameError> {
        check_dimensions(width, height)?;
        let (w, h) = (width as usize, height as usize);
        if pixels.len() < w * h {
            return Err(FrameError::ShortPlane {
                plane: "RGB",
                got: pixels.len(),
                needed: w * h,
                width,
                height,
                stride: w,
            });
        }
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let y = pixels[..w * h].iter().map(|&p| rgb_to_yuv(p).0).collect();
        let mut u = vec![0u8; cw * ch];
        let mut v = vec![0u8; cw * ch];
        for cy in 0..ch {
            for cx in 0..cw {
                let (mut su, mut sv, mut n) = (0u32, 0u32, 0u32);
                for py in (2 * cy)..(2 * cy + 2).min(h) {
                    for px in (2 * cx)..(2 * cx + 2).min(w) {
                        let (_, pu, pv) = rgb_to_yuv(pixels[py * w + px]);
                        su += u32::from(pu);
                        sv += u32::from(pv);
                        n += 1;
                    }
                }
                u[cy * cw + cx] = ((su + n / 2) / n) as u8;
                v[cy * cw + cx] = ((sv + n / 2) / n) as u8;
            }
        }
        Ok(Self {
            width,
            height,
            y,
            u,
            v,
        })
    }

    /// A frame of one colour.
    pub fn solid(width: u32, height: u32, colour: Rgb) -> Result<Self, FrameError> {
        check_dimensions(width, height)?;
        let pixels = vec![colour; width as usize * height as usize];
        Self::from_rgb(width, height, &pixels)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Width of the chroma planes.
    pub fn chroma_width(&self) -> u32 {
        self.width.div_ceil(2)
    }

    pub fn y(&self) -> &[u8] {
        &self.y
    }

    pub fn u(&self) -> &[u8] {
        &self.u
    }

    pub fn v(&self) -> &[u8] {
        &self.v
    }

    /// The RGB colour of one pixel (for tests and PNG export).
    pub fn pixel(&self, x: u32, y: u32) -> Rgb {
        let (x, y) = (
            x.min(self.width - 1) as usize,
            y.min(self.height - 1) as usize,
        );
        let cw = self.chroma_width() as usize;
        let c = (y / 2) * cw + x / 2;
        yuv_to_rgb(self.y[y * self.width as usize + x], self.u[c], self.v[c])
    }
}

fn pack_plane(
    plane: &'static str,
    src: &[u8],
    stride: usize,
    w: usize,
    h: usize,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, FrameError> {
    let needed = if h == 0 { 0 } else { stride * (h - 1) + w };
    if stride < w || src.len() < needed {
        return Err(FrameError::ShortPlane {
            plane,
            got: src.len(),
            needed,
            width,
            height,
            stride,
        });
    }
    let mut out = Vec::with_capacity(w * h);
    for row in src.chunks(stride).take(h) {
        out.extend_from_slice(&row[..w]);
    }
    Ok(out)
}

/// BT.601 limited-range YCbCr to RGB, integer arithmetic.
#[inline]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> Rgb {
    let c = 298 * (i32::from(y) - 16);
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    Rgb::new(
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    )
}

/// RGB to BT.601 limited-range YCbCr, integer arithmetic.
#[inline]
pub fn rgb_to_yuv(p: Rgb) -> (u8, u8, u8) {
    let (r, g, b) = (i32::from(p.r), i32::from(p.g), i32::from(p.b));
    let y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    (
        y.clamp(0, 255) as u8,
        u.clamp(0, 255) as u8,
        v.clamp(0, 255) as u8,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries_survive_a_round_trip_through_yuv() {
        for c in [
            Rgb::new(255, 0, 0),
            Rgb::new(0, 255, 0),
            Rgb::new(0, 0, 255),
            Rgb::new(255, 255, 255),
            Rgb::BLACK,
        ] {
            let (y, u, v) = rgb_to_yuv(c);
            let back = yuv_to_rgb(y, u, v);
            for (a, b) in [(c.r, back.r), (c.g, back.g), (c.b, back.b)] {
                assert!(a.abs_diff(b) <= 3, "{c:?} came back as {back:?}");
            }
        }
    }

    #[test]
    fn strided_planes_are_packed_and_short_planes_rejected() {
        let y = [1, 2, 0, 3, 4, 0];
        let u = [5, 0];
        let v = [6, 0];
        let planes = I420Planes {
            width: 2,
            height: 2,
            y: &y,
            y_stride: 3,
            u: &u,
            u_stride: 2,
            v: &v,
            v_stride: 2,
        };
        let f = I420Frame::from_planes(planes).unwrap();
        assert_eq!(f.y(), &[1, 2, 3, 4]);
        assert_eq!((f.u(), f.v()), (&[5][..], &[6][..]));
        let short = I420Planes {
            y: &y[..4],
            ..planes
        };
        assert!(matches!(
            I420Frame::from_planes(short),
            Err(FrameError::ShortPlane { plane: "Y", .. })
        ));
    }

    #[test]
    fn absurd_and_empty_sizes_are_refused_before_allocating() {
        assert!(matches!(
            check_dimensions(100_000, 100_000),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            check_dimensions(0, 10),
            Err(FrameError::Empty { .. })
        ));
        assert!(I420Frame::from_packed(100_000, 100_000, &[]).is_err());
    }
}
