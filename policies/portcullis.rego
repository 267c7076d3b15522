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

action := input.operation.action

op := input.operation.name

# ---------------------------------------------------------------- grants

# role grants the call's tool, action and operation
grants(role) if data.grants[role][tool][action] == "*"

grants(role) if op in data.grants[role][tool][action]

# Elevations compare canonical UTC timestamps as strings (the wasm runtime has no time parser);
# anything not in the canonical form grants nothing.
canonical_utc(t) if regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`, t)

active_elevations contains e if {
	some e in data.elevations
	e.agent == input.agent.id
	canonical_utc(e.until)
	canonical_utc(input.context.time)
	e.until > input.context.time
}

agent_roles contains r if some r in input.agent.roles

agent_roles contains e.role if some e in active_elevations

agent_grants contains r if {
	some r in agent_roles
	grants(r)
}

delegated if is_object(input.user)

user_grants contains r if {
	delegated
	some r in input.user.roles
	grants(r)
}

# ---------------------------------------------------------------- denials

denials contains msg if {
	count(agent_grants) == 0
	msg := sprintf("agent %s: no role (%s) grants %s:%s (%s)", [input.agent.id, concat(", ", sort(agent_roles)), tool, action, op])
}

# Delegation is an intersection: the user's roles must grant the call too.
denials contains msg if {
	delegated
	count(user_grants) == 0
	msg := sprintf("user %s: no role (%s) grants %s:%s (%s)", [input.user.id, concat(", ", sort(input.user.roles)), tool, action, op])
}

# A chain of agents needs every link to permit the call (input.actors: intermediate agents).
denials contains msg if {
	some a in input.actors
	a.type == "agent"
	not link_permits(a)
	msg := sprintf("delegation link %s does not permit %s:%s", [a.id, tool, action])
}

link_permits(a) if {
	a.registered
	some r in a.roles
	grants(r)
}

denials contains msg if {
	not classification_rank[input.tool.classification]
	msg := sprintf("tool %s has an unknown classification %v", [tool, input.tool.classification])
}

denials contains msg if {
	not classification_rank[input.agent.max_classification]
	msg := sprintf("agent %s has an unknown classification ceiling %v", [input.agent.id, input.agent.max_classification])
}

denials contains msg if {
	classification_rank[input.tool.classification] > classification_rank[input.agent.max_classification]
	msg := sprintf("tool %s is %s, above agent %s's ceiling %s", [tool, input.tool.classification, input.agent.id, input.agent.max_classification])
}

denials contains msg if {
	delegated
	clearance := input.user.clearance
	clearance != null
	not classification_rank[clearance] >= classification_rank[input.tool.classification]
	msg := sprintf("tool %s is %s, above user %s's clearance %v", [tool, input.tool.classification, input.user.id, clearance])
}

denials contains msg if {
	not trust_rank[input.agent.trust.level]
	msg := sprintf("agent %s has an unknown trust level %v", [input.agent.id, input.agent.trust.level])
}

denials contains msg if {
	some floor in trust_floors
	trust_rank[input.agent.trust.level] < trust_rank[floor]
	msg := sprintf("agent %s's trust level %s is below the %s floor for %s:%s", [input.agent.id, input.agent.trust.level, floor, tool, action])
}

trust_floors contains data.trust_floors.tools[tool]

trust_floors contains data.trust_floors.actions[action]

# ---------------------------------------------------------------- approval

approval_reasons contains sprintf("operation %s is high risk", [op]) if input.operation.risk in data.approval.risk

approval_reasons contains sprintf("export of %s data", [input.tool.classification]) if {
	action == "export"
	classification_rank[input.tool.classification] >= classification_rank[data.approval.export_at_or_above]
}

approval_reasons contains sprintf("%s:%s needs a human approver", [tool, action]) if action in data.approval.tool_actions[tool]

# ---------------------------------------------------------------- decision

grant_reasons := array.concat(
	[sprintf("granted to agent %s by role %s", [input.agent.id, r]) | some r in agent_grants],
	[sprintf("granted to user %s by role %s", [input.user.id, r]) | some r in user_grants],
)

default decision := {"allow": false, "approval_required": false, "reasons": ["no rule produced a decision"]}

decision := {"allow": false, "approval_required": false, "reasons": sort(denials)} if count(denials) > 0

decision := {"allow": false, "approval_required": true, "reasons": array.concat(sort(approval_reasons), grant_reasons)} if {
	count(denials) == 0
	count(approval_reasons) > 0
}

decision := {"allow": true, "approval_required": false, "reasons": grant_reasons} if {
	count(denials) == 0
	count(approval_reasons) == 0
}
