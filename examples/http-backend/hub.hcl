# The hub side of examples/http-backend: run the backend first, with the
# same key, then ./bin/hub -dev -config examples/http-backend/hub.hcl
connector "app" {
  type        = "http"
  url         = "http://127.0.0.1:9000"
  secret_file = "/tmp/backend.key"
  timeout     = "2s"
}
proxy "connect" { connector = "app" target = "/connect" }
flow "messages" {
  from { connector = "ws"  operation = "message" }
  to   { connector = "app" target = "/messages" }
}
flow "connects" {
  from { connector = "ws"  operation = "connect" }
  to   { connector = "app" target = "/events" }
}
flow "disconnects" {
  from { connector = "ws"  operation = "disconnect" }
  to   { connector = "app" target = "/events" }
}
