package inspector

// Presence detection compares a small grey copy of the view with the empty
// table. The station's live loop (inspector/station) and the capture gates
// (inspector/capture) share these levels, so a part the station sees is a
// part capture accepts.
const (
	// PresenceLevel is the grey-level difference (0–255) from the empty
	// table above which a pixel counts as covered by a part.
	PresenceLevel = 25
	// PresenceShare is the default share of covered pixels that makes a
	// part present.
	PresenceShare = 0.02
)
