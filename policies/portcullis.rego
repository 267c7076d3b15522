# The shipped Portcullis policy. Entry point: portcullis/decision → {allow, approval_required, reasons}.
# Deny by default; every allow names the grants that allowed it; every deny says why.
# Semantics of the output (docs/policies.md):
#   allow: true                         → forward the call
#   allow: false, approval_required     → permitted, but hold it for a human approver
#   allow: false                        → refuse; `reasons` says why
package portcullis

import rego.v1

classification_rank := {"public": 0, "internal": 1, "confidential": 2, "regulated": 3}

trust_rank := {"untrusted": 0, "provisional": 1, "standard": 2, "elevated": 3, "trusted": 4}

tool := input.tool.name

# Reason strings are built with concat, not sprintf: sprintf is the one builtin the wasm runtime
# calls out to JavaScript for, which tripled the evaluation time (bench/policy-eval.mjs).
format_value(v) := v if is_string(v)

format_value(v) := json.marshal(v) if not is_string(v)

action := input.operation.action

op := input.operation.name

# ---------------------------------------------------------------- grants

# role grants the call's tool, action and operation
grants(role) if data.grants[role][tool][action] == "*"

grants(role) if op in data.grants[role][tool][action]

# Elevations compare canonical UTC timestamps as strings (the wasm runtime has no time parser);
# anything not in the canonical form YYYY-MM-DDTHH:MM:SSZ grants nothing. Checked with native
# string builtins: regex.match cost ~18 µs per call in wasm (bench/policy-eval.mjs).
canonical_utc(t) if {
	is_string(t)
	count(t) == 20
	substring(t, 4, 1) == "-"
	substring(t, 7, 1) == "-"
	substring(t, 10, 1) == "T"
	substring(t, 13, 1) == ":"
	substring(t, 16, 1) == ":"
	substring(t, 19, 1) == "Z"
	every c in split(concat("", [substring(t, 0, 4), substring(t, 5, 2), substring(t, 8, 2), substring(t, 11, 2), substring(t, 14, 2), substring(t, 17, 2)]), "") {
		c in digits
	}
}

digits := {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

active_elevations contains e if {
	some e in data.elevations
	e.agent == input.agent.id
	canonical_utc(e.until)
	canonical_utc(input.context.time)
	e.until > input.context.time
}

agent_roles contains r if some r in input.agent.roles

agent_roles contains e.role if some e in active_elevations

base_grants contains r if {
	some r in input.agent.roles
	grants(r)
}

# Elevations are looked at only when the agent's own roles grant nothing: the common call pays
# nothing for them.
elevated_grants contains e.role if {
	count(base_grants) == 0
	some e in active_elevations
	grants(e.role)
}

agent_grants := base_grants | elevated_grants

delegated if is_object(input.user)

user_grants contains r if {
	delegated
	some r in input.user.roles
	grants(r)
}

# ---------------------------------------------------------------- denials

denials contains msg if {
	count(agent_grants) == 0
	msg := concat("", ["agent ", input.agent.id, ": no role (", concat(", ", sort(agent_roles)), ") grants ", tool, ":", action, " (", op, ")"])
}

# Delegation is an intersection: the user's roles must grant the call too.
denials contains msg if {
	delegated
	count(user_grants) == 0
	msg := concat("", ["user ", input.user.id, ": no role (", concat(", ", sort(input.user.roles)), ") grants ", tool, ":", action, " (", op, ")"])
}

# A chain of agents needs every link to permit the call (input.actors: intermediate agents).
denials contains msg if {
	some a in input.actors
	a.type == "agent"
	not link_permits(a)
	msg := concat("", ["delegation link ", a.id, " does not permit ", tool, ":", action])
}

link_permits(a) if {
	a.registered
	some r in a.roles
	grants(r)
}

denials contains msg if {
	not classification_rank[input.tool.classification]
	msg := concat("", ["tool ", tool, " has an unknown classification ", format_value(input.tool.classification)])
}

denials contains msg if {
	not classification_rank[input.agent.max_classification]
	msg := concat("", ["agent ", input.agent.id, " has an unknown classification ceiling ", format_value(input.agent.max_classification)])
}

denials contains msg if {
	classification_rank[input.tool.classification] > classification_rank[input.agent.max_classification]
	msg := concat("", ["tool ", tool, " is ", input.tool.classification, ", above agent ", input.agent.id, "'s ceiling ", input.agent.max_classification])
}

denials contains msg if {
	delegated
	clearance := input.user.clearance
	clearance != null
	not classification_rank[clearance] >= classification_rank[input.tool.classification]
	msg := concat("", ["tool ", tool, " is ", input.tool.classification, ", above user ", input.user.id, "'s clearance ", format_value(clearance)])
}

denials contains msg if {
	not trust_rank[input.agent.trust.level]
	msg := concat("", ["agent ", input.agent.id, " has an unknown trust level ", format_value(input.agent.trust.level)])
}

denials contains msg if {
	some floor in trust_floors
	trust_rank[input.agent.trust.level] < trust_rank[floor]
	msg := concat("", ["agent ", input.agent.id, "'s trust level ", input.agent.trust.level, " is below the ", floor, " floor for ", tool, ":", action])
}

trust_floors contains data.trust_floors.tools[tool]

trust_floors contains data.trust_floors.actions[action]

# ---------------------------------------------------------------- MCP arguments
# Rules from data.mcp_arguments, applied to the arguments of a tools/call (input.request.mcp).
# A tools/list entry is decided with arguments null: no argument rule fires, so the tool is shown
# when some call to it may pass.

mcp_call := input.request.mcp if input.request.mcp.method == "tools/call"

argument_rules := data.mcp_arguments[tool][mcp_call.tool]

denials contains msg if {
	some name, rule in argument_rules
	value := mcp_call.arguments[name]
	is_number(rule.max)
	not value <= rule.max
	msg := concat("", ["argument ", name, " of ", mcp_call.tool, " is ", format_value(value), ", above the maximum ", format_value(rule.max)])
}

denials contains msg if {
	some name, rule in argument_rules
	value := mcp_call.arguments[name]
	is_number(rule.min)
	not value >= rule.min
	msg := concat("", ["argument ", name, " of ", mcp_call.tool, " is ", format_value(value), ", below the minimum ", format_value(rule.min)])
}

denials contains msg if {
	some name, rule in argument_rules
	value := mcp_call.arguments[name]
	is_array(rule.one_of)
	not value in rule.one_of
	msg := concat("", ["argument ", name, " of ", mcp_call.tool, " is ", format_value(value), ", not one of ", format_value(rule.one_of)])
}

denials contains msg if {
	some name, rule in argument_rules
	value := mcp_call.arguments[name]
	is_array(rule.not_in)
	value in rule.not_in
	msg := concat("", ["argument ", name, " of ", mcp_call.tool, " may not be ", format_value(value)])
}

denials contains msg if {
	some name, rule in argument_rules
	is_array(rule.email_domains)
	some address in as_list(mcp_call.arguments[name])
	not allowed_address(address, rule.email_domains)
	msg := concat("", ["argument ", name, " of ", mcp_call.tool, ": ", format_value(address), " is outside the allowed domains (", concat(", ", rule.email_domains), ")"])
}

as_list(v) := v if is_array(v)

as_list(v) := [v] if not is_array(v)

# Exactly one "@", a non-empty local part, and a listed domain (compared lower case).
allowed_address(a, domains) if {
	is_string(a)
	parts := split(lower(a), "@")
	count(parts) == 2
	parts[0] != ""
	parts[1] in domains
}

# ---------------------------------------------------------------- approval

approval_reasons contains concat("", ["operation ", op, " is high risk"]) if input.operation.risk in data.approval.risk

approval_reasons contains concat("", ["export of ", input.tool.classification, " data"]) if {
	action == "export"
	classification_rank[input.tool.classification] >= classification_rank[data.approval.export_at_or_above]
}

approval_reasons contains concat("", [tool, ":", action, " needs a human approver"]) if action in data.approval.tool_actions[tool]

# ---------------------------------------------------------------- decision

grant_reasons := array.concat(
	[concat("", ["granted to agent ", input.agent.id, " by role ", r]) | some r in agent_grants],
	[concat("", ["granted to user ", input.user.id, " by role ", r]) | some r in user_grants],
)

# Permitted needs no denial AND positive grants: a denial whose message could not be built (an
# unexpected input type) must not turn into an allow.
permitted if {
	count(denials) == 0
	is_string(input.agent.id)
	count(agent_grants) > 0
	user_granted
}

user_granted if not delegated

user_granted if count(user_grants) > 0

default decision := {"allow": false, "approval_required": false, "reasons": ["no rule permits this call"]}

decision := {"allow": false, "approval_required": false, "reasons": sort(denials)} if count(denials) > 0

decision := {"allow": false, "approval_required": true, "reasons": array.concat(sort(approval_reasons), grant_reasons)} if {
	permitted
	count(approval_reasons) > 0
}

decision := {"allow": true, "approval_required": false, "reasons": grant_reasons} if {
	permitted
	count(approval_reasons) == 0
}
