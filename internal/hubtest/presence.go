package hubtest

// PresenceChanges turns a join, leave or presence_diff frame into its
// changes, "+user" for a join and "-user" for a leave; nil for any other
// frame.
func PresenceChanges(m Msg) []string {
	var out []string
	switch m.S("type") {
	case "join":
		out = append(out, "+"+m.S("user"))
	case "leave":
		out = append(out, "-"+m.S("user"))
	case "presence_diff":
		joins, _ := m["joins"].([]any)
		for _, j := range joins {
			if jm, ok := j.(map[string]any); ok {
				u, _ := jm["user"].(string)
				out = append(out, "+"+u)
			}
		}
		leaves, _ := m["leaves"].([]any)
		for _, l := range leaves {
			u, _ := l.(string)
			out = append(out, "-"+u)
		}
	}
	return out
}
