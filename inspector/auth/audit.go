package auth

import (
	"time"
)

// Action names a security-relevant event.
type Action string

// The audited actions.
const (
	ActionLogin         Action = "login"
	ActionLogout        Action = "logout"
	ActionUserAdd       Action = "user.add"
	ActionUserPassword  Action = "user.password"
	ActionUserRoles     Action = "user.roles"
	ActionUserDisable   Action = "user.disable"
	ActionUserEnable    Action = "user.enable"
	ActionTokenCreate   Action = "token.create"
	ActionTokenRevoke   Action = "token.revoke"
	ActionModelActivate Action = "model.activate"
	ActionModelRollback Action = "model.rollback"
	ActionThresholds    Action = "thresholds"
	ActionExport        Action = "verdicts.export"
	ActionBackup        Action = "store.backup"
	ActionShiftReset    Action = "shift.reset"
	ActionAuditExport   Action = "audit.export"
	// ActionMonitorAlarm and ActionMonitorClear record a model monitor
	// crossing its threshold and coming back (inspector/monitor); the
	// actor is the station itself.
	ActionMonitorAlarm Action = "monitor.alarm"
	ActionMonitorClear Action = "monitor.clear"
)

// Event is one entry of the audit log: who did what, when, from where, and
// whether it succeeded. Entries are only ever appended.
type Event struct {
	ID     uint64    `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Via    Via       `json:"via"`
	Addr   string    `json:"addr,omitempty"`
	Action Action    `json:"action"`
	// Target is what the action was on: a user, a model name/version, a query.
	Target string `json:"target,omitempty"`
	Detail string `json:"detail,omitempty"`
	OK     bool   `json:"ok"`
}

// Actor is who acts, for the audit log.
type Actor struct {
	Name string
	Via  Via
	Addr string
}

// ActorOf is the actor behind a request by p from addr.
func ActorOf(p *Principal, addr string) Actor {
	if p == nil {
		return Actor{Name: "anonymous", Addr: addr}
	}
	return Actor{Name: p.Name, Via: p.Via, Addr: addr}
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	// Before returns events with a smaller id (paging); 0 starts at the newest.
	Before uint64
	// Limit caps the events returned; 0 means all.
	Limit int
}
