// The workshop's backend (index.js of the PackSpaces repository), unchanged in behaviour:
// socket.io 4, websocket transport only, CORS *, one global space. Prints its URL.
import { createServer } from "node:http";
import { Server } from "socket.io";

const http = createServer();
const io = new Server(http, { cors: { origin: "*" }, transports: ["websocket"] });

io.on("connection", (socket) => {
  socket.on("join-space", (peerId) => {
    console.error("join-space", peerId);
    socket.broadcast.emit("user-connected", peerId);
    socket.on("disconnect", () => {
      socket.broadcast.emit("user-disconnected", peerId);
    });
  });
});

http.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${http.address().port}/`);
});
