package protocol

// MaxNameLen is the longest room or user name, in bytes.
const MaxNameLen = 128

// ValidName reports whether s is an allowed room or user name: 1 to
// MaxNameLen characters, each a letter, digit or one of "_-:@.", with no empty
// dot-separated part. Such a name is safe as a sequence of NATS subject tokens
// and needs no escaping inside a JSON string.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	prevDot := true // a leading dot is an empty part
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if prevDot {
				return false
			}
			prevDot = true
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '-', c == ':', c == '@':
		default:
			return false
		}
		prevDot = false
	}
	return !prevDot
}

// ValidToken reports whether s is one non-empty NATS subject token made of
// name characters (no dots). Node ids and connection id parts use it.
func ValidToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return false
		}
	}
	return ValidName(s)
}
