package bench

// The parent and a child exchange one JSON object a line. Every command
// gets exactly one answer with the same Op; "open" is also followed, before
// its answer, by any number of "progress" lines.

// Commands a child understands.
const (
	opOpen     = "open"     // open conns, answered when all are joined or failed
	opStatus   = "status"   // counters only, cheap
	opReset    = "reset"    // zero delivery counters and histograms
	opReport   = "report"   // counters and histograms
	opChat     = "chat"     // every joined conn sends room messages, answered when all are sent
	opDrop     = "drop"     // close every joined conn at once, keeping its position to recover from
	opProgress = "progress" // child to parent, while opening
	opError    = "error"    // child to parent: the command failed
)

// command is a parent-to-child line.
type command struct {
	Op string `json:"op"`

	// open
	URL         string   `json:"url,omitempty"`         // ws://host:port/path
	Local       string   `json:"local,omitempty"`       // source IP, "" for any
	Rooms       []string `json:"rooms,omitempty"`       // conn i joins Rooms[(First+i)%len]
	N           int      `json:"n,omitempty"`           // conns to open
	First       int      `json:"first,omitempty"`       // index of the first conn, for room spreading
	Concurrency int      `json:"concurrency,omitempty"` // handshakes in flight
	Rate        float64  `json:"rate,omitempty"`        // conns started per second, 0 for no limit
	TimeoutMS   int      `json:"timeout_ms,omitempty"`  // give up a handshake after this
	Browser     bool     `json:"browser,omitempty"`     // send a desktop browser's upgrade headers
	Deflate     bool     `json:"deflate,omitempty"`     // minimal headers and a permessage-deflate offer
	History     bool     `json:"history,omitempty"`     // the rooms keep history: count offsets and the publisher's numbers
	Reconnect   bool     `json:"reconnect,omitempty"`   // open again every dropped conn, joining with since (N is ignored)

	// report: each member must have had the publisher's messages 0 to
	// Expect-1 (history rooms); what it lacks is counted as missing.
	Expect int `json:"expect,omitempty"`

	// chat: each joined conn sends MsgRate messages/s of Size bytes to its
	// room (Rooms as given to open) for DurationMS, spread evenly.
	MsgRate    float64 `json:"msg_rate,omitempty"`
	DurationMS int     `json:"duration_ms,omitempty"`
	Size       int     `json:"size,omitempty"`
}

// answer is a child-to-parent line.
type answer struct {
	Op    string `json:"op"`
	Error string `json:"error,omitempty"`

	// open and progress
	Opened    int    `json:"opened"`
	Failed    int    `json:"failed"`
	FirstErr  string `json:"first_err,omitempty"`
	ElapsedNS int64  `json:"elapsed_ns,omitempty"`
	Join      *Hist  `json:"join,omitempty"` // open: upgrade start to ack, µs

	// status and report
	Conns      int     `json:"conns"`        // open and joined now
	Received   uint64  `json:"received"`     // deliveries since the last reset
	FirstRecv  int64   `json:"first_recv"`   // unix ns of the first delivery read
	LastRecv   int64   `json:"last_recv"`    // unix ns of the last delivery read
	Closed     int     `json:"closed"`       // joined conns the server or network ended
	ErrFrames  int     `json:"err_frames"`   // error frames received while joined
	MinPerConn uint64  `json:"min_per_conn"` // fewest deliveries on one joined conn
	MaxPerConn uint64  `json:"max_per_conn"` // most deliveries on one joined conn
	Latency    *Hist   `json:"latency,omitempty"`
	LastErr    string  `json:"last_err,omitempty"`
	CPUSeconds float64 `json:"cpu_seconds"`         // the child's user+system CPU so far
	Sent       uint64  `json:"sent,omitempty"`      // chat: messages sent
	SendErrs   uint64  `json:"send_errs,omitempty"` // chat: messages that could not be written whole

	// history rooms
	Dropped      int    `json:"dropped,omitempty"`       // drop: conns closed
	Recovered    int    `json:"recovered,omitempty"`     // joins acknowledged with recovered:true
	NotRecovered int    `json:"not_recovered,omitempty"` // joins acknowledged with recovered:false
	Replayed     uint64 `json:"replayed,omitempty"`      // messages read before a join's ack
	Gaps         uint64 `json:"gaps,omitempty"`          // publisher's numbers skipped
	Dups         uint64 `json:"dups,omitempty"`          // messages had twice (number or offset)
	Missing      uint64 `json:"missing,omitempty"`       // report with Expect: messages not had after the last one
	Resyncs      int    `json:"resyncs,omitempty"`       // resync frames
}
