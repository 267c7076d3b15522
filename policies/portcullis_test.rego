# Unit tests of the shipped policy: `portcullis policy test` (opa test policies/).
package portcullis_test

import rego.v1

import data.portcullis

now := "2026-11-23T12:00:00Z"

agent_roles := {
	"support-bot": ["support_agent"],
	"sales-bot": ["sales_ops_agent"],
	"finance-bot": ["finance_agent"],
	"itops-bot": ["it_ops_agent"],
}

classification := {"crm": "confidential", "ticketing": "internal", "email": "internal", "payments": "regulated", "warehouse": "confidential", "tracker": "internal"}

risk := {"delete_issue": "high", "export": "high", "send": "high", "create-payment": "high", "approve-payment": "high", "update-bank": "high", "export-view": "high"}

# A service-account call by `agent` to tool/action/operation, as the gateway builds it.
call(agent, tool, action, opname) := {
	"agent": {
		"id": agent, "roles": agent_roles[agent], "owner": "owner@example.com",
		"max_classification": "regulated", "trust": {"score": 50, "level": "standard"},
	},
	"user": null,
	"delegation": [agent],
	"actors": [],
	"token": {"scopes": [sprintf("%s:%s", [tool, action])], "jti": "j", "iat": 0, "exp": 0, "task_id": null},
	"tool": {"name": tool, "classification": classification[tool]},
	"operation": {"name": opname, "action": action, "risk": object.get(risk, opname, "low")},
	"request": {"method": "GET", "path": "/", "query": {}, "mcp": null},
	"context": {"time": now, "ip": "127.0.0.1"},
}

outcome(input_doc) := "approval" if {
	d := portcullis.decision with input as input_doc
	d.approval_required
} else := "allow" if {
	d := portcullis.decision with input as input_doc
	d.allow
} else := "deny"

# The roles matrix, row by row: every cell that differs from its neighbours.
matrix := [
	# support agent: tickets read/write; CRM read + notes only; email drafts (send held); no payments, no warehouse
	["support-bot", "ticketing", "read", "list-tickets", "allow"],
	["support-bot", "ticketing", "write", "create-ticket", "allow"],
	["support-bot", "crm", "read", "get-contact", "allow"],
	["support-bot", "crm", "write", "add-note", "allow"],
	["support-bot", "crm", "write", "update-contact", "deny"],
	["support-bot", "crm", "export", "export", "deny"],
	["support-bot", "email", "write", "create-draft", "allow"],
	["support-bot", "email", "write", "send", "approval"],
	["support-bot", "payments", "read", "list-payments", "deny"],
	["support-bot", "warehouse", "read", "query-view", "deny"],
	# sales ops: CRM read/write/export (export held); email all; tickets read; warehouse views only
	["sales-bot", "crm", "write", "update-contact", "allow"],
	["sales-bot", "crm", "export", "export", "approval"],
	["sales-bot", "email", "write", "send", "approval"],
	["sales-bot", "ticketing", "read", "list-tickets", "allow"],
	["sales-bot", "ticketing", "write", "create-ticket", "deny"],
	["sales-bot", "warehouse", "read", "query-view", "allow"],
	["sales-bot", "warehouse", "export", "export-view", "deny"],
	["sales-bot", "payments", "read", "list-payments", "deny"],
	# finance: payments read, writes and approvals held, bank details never; warehouse read + export (held)
	["finance-bot", "payments", "read", "list-payments", "allow"],
	["finance-bot", "payments", "write", "create-payment", "approval"],
	["finance-bot", "payments", "approve", "approve-payment", "approval"],
	["finance-bot", "payments", "admin", "update-bank", "deny"],
	["finance-bot", "warehouse", "export", "export-view", "approval"],
	["finance-bot", "crm", "read", "get-contact", "allow"],
	["finance-bot", "crm", "read", "list-contacts", "deny"],
	["finance-bot", "ticketing", "write", "create-ticket", "deny"],
	# IT ops: tickets read/write; warehouse views; no CRM, email or payments
	["itops-bot", "ticketing", "write", "assign-ticket", "allow"],
	["itops-bot", "warehouse", "read", "query-view", "allow"],
	["itops-bot", "crm", "read", "get-contact", "deny"],
	["itops-bot", "email", "write", "create-draft", "deny"],
	["itops-bot", "payments", "read", "list-payments", "deny"],
]

test_roles_matrix if {
	failures := [sprintf("%s %s:%s (%s): want %s, got %s", [row[0], row[1], row[2], row[3], row[4], got]) |
		some row in matrix
		got := outcome(call(row[0], row[1], row[2], row[3]))
		got != row[4]
	]
	print(failures)
	count(failures) == 0
}

test_deny_by_default_for_an_unknown_role if {
	c := object.union(call("support-bot", "ticketing", "read", "list-tickets"), {"agent": {"roles": ["nobody"]}})
	d := portcullis.decision with input as c
	not d.allow
	not d.approval_required
	contains(d.reasons[0], "no role (nobody) grants")
}

test_every_allow_names_its_grant if {
	d := portcullis.decision with input as call("support-bot", "ticketing", "read", "list-tickets")
	d.allow
	d.reasons == ["granted to agent support-bot by role support_agent"]
}

# ---- delegation: intersection of agent and user roles

delegated(base, user) := object.union(base, {"user": user, "delegation": [base.agent.id, user.id]})

test_delegated_call_needs_the_user_role_too if {
	c := delegated(call("support-bot", "crm", "read", "get-contact"), {"id": "eve@example.com", "roles": ["it_ops"]})
	d := portcullis.decision with input as c
	not d.allow
	some r in d.reasons
	startswith(r, "user eve@example.com: no role")
}

test_delegated_call_allowed_when_both_grant if {
	c := delegated(call("support-bot", "crm", "read", "get-contact"), {"id": "alice@example.com", "roles": ["support"]})
	d := portcullis.decision with input as c
	d.allow
	"granted to user alice@example.com by role support" in d.reasons
}

test_a_privileged_user_cannot_widen_the_agent if {
	c := delegated(call("support-bot", "payments", "read", "list-payments"), {"id": "cfo@example.com", "roles": ["finance"]})
	outcome(c) == "deny"
}

test_every_link_of_a_chain_must_permit if {
	base := delegated(call("support-bot", "crm", "read", "get-contact"), {"id": "alice@example.com", "roles": ["support"]})
	ok := object.union(base, {"actors": [{"id": "orchestrator", "type": "agent", "registered": true, "roles": ["sales_ops_agent"]}]})
	outcome(ok) == "allow"
	weak := object.union(base, {"actors": [{"id": "orchestrator", "type": "agent", "registered": true, "roles": ["it_ops_agent"]}]})
	outcome(weak) == "deny"
	unknown := object.union(base, {"actors": [{"id": "ghost", "type": "agent", "registered": false, "roles": []}]})
	outcome(unknown) == "deny"
}

# ---- classification

test_tool_above_the_agent_ceiling_is_refused if {
	c := object.union(call("support-bot", "crm", "read", "get-contact"), {"agent": {"max_classification": "internal"}})
	d := portcullis.decision with input as c
	not d.allow
	d.reasons == ["tool crm is confidential, above agent support-bot's ceiling internal"]
}

test_user_clearance_is_a_ceiling_too if {
	c := delegated(call("support-bot", "crm", "read", "get-contact"), {"id": "temp@example.com", "roles": ["support"], "clearance": "internal"})
	outcome(c) == "deny"
	c2 := delegated(call("support-bot", "crm", "read", "get-contact"), {"id": "lead@example.com", "roles": ["support"], "clearance": "confidential"})
	outcome(c2) == "allow"
}

test_unknown_classification_fails_closed if {
	c := object.union(call("support-bot", "ticketing", "read", "list-tickets"), {"tool": {"classification": "top-secret"}})
	outcome(c) == "deny"
}

# ---- trust

test_trust_floor_per_tool if {
	c := object.union(call("finance-bot", "payments", "read", "list-payments"), {"agent": {"trust": {"score": 20, "level": "provisional"}}})
	d := portcullis.decision with input as c
	not d.allow
	d.reasons == ["agent finance-bot's trust level provisional is below the standard floor for payments:read"]
}

test_trust_floor_per_action if {
	c := object.union(call("sales-bot", "crm", "export", "export"), {"agent": {"trust": {"score": 20, "level": "provisional"}}})
	outcome(c) == "deny"
}

test_unknown_trust_level_fails_closed if {
	c := object.union(call("support-bot", "ticketing", "read", "list-tickets"), {"agent": {"trust": {"score": 50, "level": "meh"}}})
	outcome(c) == "deny"
}

# ---- approval

test_high_risk_is_held_with_reasons if {
	d := portcullis.decision with input as call("finance-bot", "payments", "write", "create-payment")
	not d.allow
	d.approval_required
	"operation create-payment is high risk" in d.reasons
	"payments:write needs a human approver" in d.reasons
}

test_payments_write_is_held_even_when_marked_low_risk if {
	c := object.union(call("finance-bot", "payments", "write", "create-payment"), {"operation": {"risk": "low"}})
	outcome(c) == "approval"
}

test_confidential_export_is_held_even_when_marked_low_risk if {
	c := object.union(call("sales-bot", "crm", "export", "export"), {"operation": {"risk": "low"}})
	outcome(c) == "approval"
}

test_a_denied_high_risk_call_is_denied_not_held if {
	outcome(call("support-bot", "payments", "write", "create-payment")) == "deny"
}

# ---- time-bound elevation

elevation := {"agent": "support-bot", "role": "sales_ops_agent", "until": "2026-12-01T00:00:00Z", "reason": "test"}

test_elevation_grants_until_it_expires if {
	c := call("support-bot", "crm", "write", "update-contact")
	outcome(c) == "deny"
	outcome(c) == "allow" with data.elevations as [elevation]
	after := object.union(c, {"context": {"time": "2026-12-01T00:00:01Z"}})
	outcome(after) == "deny" with data.elevations as [elevation]
}

test_elevation_names_only_its_agent if {
	c := call("itops-bot", "crm", "write", "update-contact")
	outcome(c) == "deny" with data.elevations as [elevation]
}

test_malformed_elevation_expiry_grants_nothing if {
	every until in ["2026-12-01T00:00:00+02:00", "2026-12-01 00:00:00Z", "2026-12-0aT00:00:00Z", "2026-12-01T00:00:00.5Z", "2999-1e-01T00:00:00Z", 1798761600] {
		bad := object.union(elevation, {"until": until})
		outcome(call("support-bot", "crm", "write", "update-contact")) == "deny" with data.elevations as [bad]
	}
}

test_shipped_elevations_are_canonical if {
	every e in data.elevations {
		portcullis.canonical_utc(e.until)
	}
}

test_the_shipped_elevation_has_expired if {
	outcome(call("support-bot", "crm", "write", "update-contact")) == "deny"
}

# ---- robustness: a malformed input never becomes an allow

test_non_string_ids_deny if {
	c := object.union(call("support-bot", "ticketing", "read", "list-tickets"), {"agent": {"id": 42}})
	outcome(c) == "deny"
}

test_missing_user_roles_deny if {
	c := delegated(call("support-bot", "crm", "read", "get-contact"), {"id": "alice@example.com"})
	outcome(c) == "deny"
}

# ---------------------------------------------------------------- MCP tools and their arguments

# A tools/call of the tracker MCP server, as the gateway builds it (operation name = MCP tool name).
mcp_call(agent, action, name, args) := object.union(call(agent, "tracker", action, name), {"request": {"method": "POST", "path": "/", "query": {}, "mcp": {"method": "tools/call", "tool": name, "arguments": args, "revision": "2026-07-28"}}})

test_tracker_matrix if {
	outcome(mcp_call("support-bot", "read", "search_issues", {"query": "vpn"})) == "allow"
	outcome(mcp_call("support-bot", "write", "create_issue", {"title": "t"})) == "allow"
	outcome(mcp_call("support-bot", "write", "delete_issue", {"id": "ISS-1"})) == "deny"
	outcome(mcp_call("itops-bot", "write", "delete_issue", {"id": "ISS-1"})) == "approval"
	outcome(mcp_call("sales-bot", "read", "get_issue", {"id": "ISS-1"})) == "allow"
	outcome(mcp_call("sales-bot", "write", "create_issue", {"title": "t"})) == "deny"
	outcome(mcp_call("finance-bot", "read", "search_issues", {"query": "q"})) == "deny"
}

test_argument_maximum if {
	outcome(mcp_call("support-bot", "read", "search_issues", {"query": "q", "limit": 50})) == "allow"
	d := portcullis.decision with input as mcp_call("support-bot", "read", "search_issues", {"query": "q", "limit": 51})
	not d.allow
	d.reasons == ["argument limit of search_issues is 51, above the maximum 50"]
}

test_argument_of_the_wrong_type_violates_its_rule if {
	outcome(mcp_call("support-bot", "read", "search_issues", {"query": "q", "limit": "9999"})) == "deny"
}

test_argument_not_in if {
	outcome(mcp_call("support-bot", "write", "create_issue", {"title": "t", "priority": "high"})) == "allow"
	outcome(mcp_call("support-bot", "write", "create_issue", {"title": "t", "priority": "critical"})) == "deny"
}

test_argument_email_domains if {
	outcome(mcp_call("support-bot", "write", "share_issue", {"id": "ISS-1", "email": "dana@example.com"})) == "allow"
	outcome(mcp_call("support-bot", "write", "share_issue", {"id": "ISS-1", "email": "Dana@Example.COM"})) == "allow"
	every bad in ["mallory@evil.test", "x@example.com@evil.test", "@example.com", "example.com", 42, ["dana@example.com", "m@evil.test"]] {
		outcome(mcp_call("support-bot", "write", "share_issue", {"id": "ISS-1", "email": bad})) == "deny"
	}
}

test_absent_arguments_are_not_checked if {
	outcome(mcp_call("support-bot", "read", "search_issues", {"query": "q"})) == "allow"
	outcome(mcp_call("support-bot", "write", "share_issue", null)) == "allow"
}

test_argument_rules_apply_to_tools_call_only if {
	listing := object.union(call("support-bot", "tracker", "read", "search_issues"), {"request": {"method": "POST", "path": "/", "query": {}, "mcp": {"method": "resources/read", "tool": "search_issues", "arguments": {"limit": 9999}, "revision": null}}})
	outcome(listing) == "allow"
}
