connector "ws" {
  type          = "websocket"
  port          = 8080
  host          = "0.0.0.0"   # default
  path          = "/ws"       # default; may hold route params: "/ws/{tenant}"
  ping_interval = "30s"       # default: how often the server pings each client
  pong_timeout  = "10s"       # default: how long it waits for the pong before closing
}

connector "bus" {
  type = "nats"
  url  = "nats://nats:4222"   # leave out for the embedded server
}

# Map an existing NATS subject onto a hub operation, no code needed.
flow "live_orders" {
  from { connector = "bus" operation = "order.updated" }
  to   { connector = "ws"  operation = "broadcast" }
}
flow "room_notification" {
  from { connector = "bus" operation = "room.event" }
  to   { connector = "ws"  operation = "send_to_room" target = "input.room" }
}
flow "handle_chat" {
  from { connector = "ws"  operation = "message" }
  to   { connector = "bus" target = "chat.messages" }
}
