package node

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/protocol"
)

// flows runs the configured flows.
//
// A flow from NATS to the WebSocket side subscribes to its subject in a
// queue group named after the flow, so each message is taken by exactly one
// node of the cluster, which then routes it through the hub subjects as if a
// publisher had sent it there: every node delivers to its own connections,
// once. A flow from the WebSocket side to NATS publishes the event (the same
// JSON as on <prefix>.events.<name>, reply subject included for messages) to
// its target subject, from the node that holds the connection.
type flows struct {
	n    *Node
	subs []*nats.Subscription
	outs map[string][]config.Flow // event name → flows from that ws source
}

func startFlows(n *Node) (*flows, error) {
	f := &flows{n: n, outs: map[string][]config.Flow{}}
	for _, fl := range n.cfg.Flows {
		fl := fl
		switch {
		case fl.From.Kind == config.KindNATS && fl.To.Kind == config.KindWebSocket:
			s, err := n.nc.QueueSubscribe(fl.From.Operation, "hub.flow."+fl.Name, func(m *nats.Msg) {
				f.inbound(&fl, m.Data)
			})
			if err != nil {
				f.close()
				return nil, fmt.Errorf("flow %q (%s): subscribe %s: %w", fl.Name, fl.Pos, fl.From.Operation, err)
			}
			f.subs = append(f.subs, s)
		case fl.From.Kind == config.KindWebSocket && fl.To.Kind == config.KindNATS:
			f.outs[fl.From.Operation] = append(f.outs[fl.From.Operation], fl)
		case fl.From.Kind == config.KindWebSocket && fl.To.Kind == config.KindHTTP:
			continue // the backends run it (backends.go)
		default:
			return nil, fmt.Errorf("flow %q (%s): from %s to %s is not supported", fl.Name, fl.Pos, fl.From.Kind, fl.To.Kind)
		}
		n.log.Info("flow ready", "flow", fl.Name, "from", fl.From.Connector+":"+fl.From.Operation,
			"to", fl.To.Connector+":"+strings.TrimPrefix(fl.To.Operation+" "+fl.To.Target, " "))
	}
	return f, flushIfConnected(n.nc)
}

func (f *flows) close() {
	for _, s := range f.subs {
		_ = s.Unsubscribe()
	}
	f.subs = nil
}

// inbound routes one message of a NATS-to-WebSocket flow.
func (f *flows) inbound(fl *config.Flow, payload []byte) {
	log := f.n.log.With("flow", fl.Name)
	data := protocol.Data(payload)
	subject := "broadcast"
	if fl.To.Operation != config.OpBroadcast {
		target, err := resolveTarget(fl.To, data)
		if err != nil {
			log.Warn("flow message dropped", "err", err)
			metrics.FlowMessages.WithLabelValues(fl.Name + ":dropped").Inc()
			return
		}
		switch fl.To.Operation {
		case config.OpSendToRoom:
			subject = "room." + target
		case config.OpSendToUser:
			subject = "user." + target
		case config.OpSendToConnection:
			subject = "conn." + target
		}
	}
	if err := f.n.bus.Publish(subject, data); err != nil {
		log.Warn("flow publish failed", "err", err)
		return
	}
	metrics.FlowMessages.WithLabelValues(fl.Name).Inc()
}

// resolveTarget finds the room, user or connection a flow sends to: a
// literal target, or the field of the incoming JSON that "input.a.b" names.
func resolveTarget(to config.Endpoint, data []byte) (string, error) {
	if to.TargetPath == nil {
		return to.Target, nil
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return "", fmt.Errorf("payload is not JSON, cannot read %s", to.Target)
	}
	for _, key := range to.TargetPath {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("payload has no field %s", to.Target)
		}
		if v, ok = obj[key]; !ok {
			return "", fmt.Errorf("payload has no field %s", to.Target)
		}
	}
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case float64:
		s = strconv.FormatFloat(t, 'f', -1, 64)
	default:
		return "", fmt.Errorf("field %s is not a string", to.Target)
	}
	if !protocol.ValidName(s) {
		return "", fmt.Errorf("field %s holds %q, not a valid name", to.Target, s)
	}
	return s, nil
}

// onEvent publishes an event to the flows that take it.
func (f *flows) onEvent(event string, payload []byte, reply string) {
	for _, fl := range f.outs[event] {
		var err error
		if reply != "" {
			err = f.n.nc.PublishRequest(fl.To.Target, reply, payload)
		} else {
			err = f.n.nc.Publish(fl.To.Target, payload)
		}
		if err != nil {
			f.n.log.Warn("flow publish failed", "flow", fl.Name, "err", err)
			continue
		}
		metrics.FlowMessages.WithLabelValues(fl.Name).Inc()
	}
}
