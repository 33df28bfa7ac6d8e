package protocol

import "strconv"

// Error is a client-facing error: the closed table below is everything a
// client can be told. Codes 100-199 are request errors (the connection stays
// open); 200-299 are refusals by policy (limits, permissions); 500 is ours.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return "protocol: " + e.Message + " (" + strconv.Itoa(e.Code) + ")" }

// The client error table. Messages are stable: clients and tests may match them.
var (
	ErrInvalidJSON     = &Error{100, "invalid JSON"}
	ErrUnknownType     = &Error{101, "unknown frame type"}
	ErrMissingType     = &Error{102, "missing field: type"}
	ErrMissingRoom     = &Error{103, "missing field: room"}
	ErrMissingData     = &Error{104, "missing field: data"}
	ErrInvalidRoom     = &Error{105, "invalid room name"}
	ErrInvalidUser     = &Error{106, "invalid user name"}
	ErrInvalidID       = &Error{107, "id must be a string or a number"}
	ErrRoomAndUser     = &Error{108, "room and user cannot both be set"}
	ErrNotJoined       = &Error{109, "not a member of this room"}
	ErrInvalidField    = &Error{110, "invalid field type"}
	ErrMissingToken    = &Error{111, "missing field: token"}
	ErrNoPresence      = &Error{120, "presence is not enabled for this room"}
	ErrRoomForbidden   = &Error{200, "room not allowed for this connection"}
	ErrTooManyRooms    = &Error{201, "too many rooms for this connection"}
	ErrRateLimited     = &Error{202, "rate limit exceeded"}
	ErrPublishDisabled = &Error{203, "client publishing is disabled"}
	ErrDirectDisabled  = &Error{204, "direct messages are disabled"}
	ErrUnauthenticated = &Error{205, "sending to a user requires an authenticated connection"}
	// ErrAnonymousForbidden refuses a join to a room of a namespace with
	// anonymous = false from a connection without a user.
	ErrAnonymousForbidden = &Error{206, "anonymous connections may not join this room"}
	ErrInvalidToken       = &Error{207, "invalid token"}
	ErrInvalidSince       = &Error{112, `since must be {"offset":N,"epoch":"..."}`}
	ErrJoinRefused        = &Error{230, "join refused by the backend"}
	ErrMessageRefused     = &Error{231, "message refused by the backend"}
	ErrInternal           = &Error{500, "internal error"}
	// Codes 503 and 504 say a backend (SPEC §12) gave no answer: the
	// request may be sent again later.
	ErrBackendUnavailable = &Error{503, "backend unavailable"}
	ErrBackendTimeout     = &Error{504, "backend timed out"}
	// ErrNotStored refuses a message to a history room that could not be
	// stored (no JetStream quorum, stream missing): it was not delivered.
	ErrNotStored = &Error{507, "message not stored: history unavailable"}
)

// Errors lists the table, for documentation and tests.
var Errors = []*Error{
	ErrInvalidJSON, ErrUnknownType, ErrMissingType, ErrMissingRoom, ErrMissingData,
	ErrInvalidRoom, ErrInvalidUser, ErrInvalidID, ErrRoomAndUser, ErrNotJoined, ErrInvalidField, ErrMissingToken, ErrNoPresence,
	ErrRoomForbidden, ErrTooManyRooms, ErrRateLimited, ErrPublishDisabled, ErrDirectDisabled,
	ErrUnauthenticated, ErrAnonymousForbidden, ErrInvalidToken, ErrInvalidSince, ErrJoinRefused, ErrMessageRefused, ErrInternal, ErrBackendUnavailable, ErrBackendTimeout, ErrNotStored,
}
