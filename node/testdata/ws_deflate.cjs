// Connects to the hub with Node's `ws` package (which offers
// permessage-deflate), joins room "r", reports the negotiated extensions,
// the messages it gets and sends one large room message. Used by
// TestCompression_NodeWS; WS_MODULE is the path of the installed package.
const WebSocket = require(process.env.WS_MODULE);
const ws = new WebSocket(process.env.HUB_URL, { perMessageDeflate: true });
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
ws.on("open", () => {
  say({ event: "open", extensions: ws.extensions });
  ws.send(JSON.stringify({ type: "join_room", room: "r", id: 1 }));
});
ws.on("message", (data, isBinary) => {
  const m = JSON.parse(data.toString());
  if (m.type === "ack" && m.id === 1) {
    say({ event: "joined" });
    return;
  }
  if (m.type === "message") {
    say({ event: "message", size: JSON.stringify(m.data).length, text: m.data.text.slice(0, 20) });
    // Large enough for ws to compress it (its threshold is 1 KiB).
    ws.send(JSON.stringify({ type: "message", room: "r", data: { text: "from node ".repeat(500) } }), { compress: true });
    setTimeout(() => ws.close(1000, "done"), 500);
  }
});
ws.on("close", (code) => { say({ event: "close", code }); process.exit(0); });
ws.on("error", (e) => { say({ event: "error", error: String(e) }); process.exit(1); });
setTimeout(() => { say({ event: "timeout" }); process.exit(2); }, 20000);
