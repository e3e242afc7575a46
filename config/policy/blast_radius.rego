# Blast radius of one driftd run (one stack), after the classic Terraform
# plan policy: for each resource change, score = action weight x type weight,
# summed over the run. Above the configured budget
# (policy.blast_radius_threshold, default 100) driftd reconciles nothing
# automatically and routes the drifts to a pull request, with the score.
# driftd reads `score` in `package driftd` only: with a threshold set, a
# file without it is a config error, and a score that is undefined or not a
# number for a run blocks reconcile for that stack (the brake fails closed).
#
# Reconciling drift means the inverse of what happened out of band:
#   changed   -> update (put attributes back)
#   missing   -> create (bring the resource back)
#   unmanaged -> delete (remove what nobody manages)
package driftd

import rego.v1

action_weights := {"delete": 10, "update": 5, "create": 1, "no-op": 0}

# Sensitive types weigh more; everything else weighs 1.
type_weights := {
	"aws_eks_cluster": 20,
	"aws_iam_user": 10,
	"aws_iam_role": 5,
	"aws_security_group": 5,
	"aws_security_group_rule": 5,
	"aws_vpc_security_group_ingress_rule": 5,
	"aws_vpc_security_group_egress_rule": 5,
	"aws_s3_bucket_policy": 5,
	"aws_s3_bucket_public_access_block": 5,
	"aws_instance": 2,
}

type_weight(t) := w if {
	w := type_weights[t]
} else := 1

change_score(d) := action_weights[d.action] * type_weight(d.type)

score := sum([change_score(d) | some d in input.drifts])

# Any drift on an IAM or cluster resource is for a human.
critical contains d.address if {
	some d in input.drifts
	type_weight(d.type) >= 10
}
