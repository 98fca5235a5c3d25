package hub

// errCode is the machine-readable reason of an error event ("code"); text
// clients get the same error as a line starting with "error: ".
type errCode string

// Error codes sent to clients.
const (
	errInvalidName  errCode = "invalid_name"     // a user or room name that is not 1-32 of [A-Za-z0-9_-]
	errNameTaken    errCode = "name_taken"       // another user has the name (in any case)
	errUnknownUser  errCode = "unknown_user"     // whisper to nobody
	errSelfWhisper  errCode = "self_whisper"     // whisper to oneself
	errSameRoom     errCode = "same_room"        // join the room one is in, leave the lobby
	errUsage        errCode = "usage"            // a command without its arguments
	errUnknownCmd   errCode = "unknown_command"  // "/foo", or a JSON command of unknown type
	errBadJSON      errCode = "bad_json"         // a JSON client sent "{..." that is not a JSON object
	errBadRequest   errCode = "bad_request"      // a JSON command without a field it needs, or with a field of the wrong type
	errTooLong      errCode = "too_long"         // chat text over Config.MaxLine
	errRateLimited  errCode = "rate_limited"     // a message over Config.Rate, dropped
	errForbidden    errCode = "forbidden"        // the token does not allow it: /join outside its rooms, /nick without "nick":true
	errInvalidToken errCode = "invalid_token"    // a /refresh token that does not verify, or is for another user
	errNoHistory    errCode = "no_history"       // /history on a node without history
	errNotReady     errCode = "not_ready"        // a message before the welcome (the cluster claims the name); a /join while the last one waits for the cluster
	errNameBusy     errCode = "name_unavailable" // the cluster's name service did not answer in time: try again
	errMuted        errCode = "muted"            // the sender is muted (server API): its message reaches nobody
	errBanned       errCode = "banned"           // /nick to a name the server API banned
)

// invalidName and nameTaken are the texts of errInvalidName ("name" or
// "room name") and errNameTaken, wherever the name came from.
func invalidName(what, s string) string {
	return "invalid " + what + " " + quoteShort(s) + ": use 1-32 letters, digits, _ or -"
}

func nameTaken(s string) string { return "name " + quoteShort(s) + " is taken" }

// nameRefused is the text of a refused claim of name on this node.
func nameRefused(res nameClaim, name string) string {
	if res == nameReserved {
		return reservedName(name)
	}
	return nameTaken(name)
}

// nameBusy is the text of errNameBusy.
func nameBusy(s string) string {
	return "name " + quoteShort(s) + " is unavailable: name service busy, try again"
}

// claimRefusal is the error of a cluster's refused claim of name.
func claimRefusal(res ClaimResult, name string) (errCode, string) {
	if res == ClaimBusy {
		return errNameBusy, nameBusy(name)
	}
	return errNameTaken, nameTaken(name)
}

// replyError sends an error to m, after what was posted to it before.
func (h *Hub) replyError(m *Member, code errCode, text string) {
	ev := event{typ: evError, code: string(code), text: []byte(text)}
	h.sendTo(m, ev.frame(m.json))
}
