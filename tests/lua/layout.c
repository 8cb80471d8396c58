/* SPDX-License-Identifier: MIT */
/*
 * layout.c — prints the size and field offsets of every struct that
 * bindings/lua/resty/rollout.lua declares with ffi.cdef, as the C compiler
 * lays them out from include/rollout.h. layout_spec.lua compares each line
 * with ffi.sizeof / ffi.offsetof, so a header change that the FFI
 * declarations miss fails a test instead of corrupting memory.
 *
 * Output: "STRUCT sizeof N" and "STRUCT FIELD OFFSET" lines.
 */
#include "rollout.h"

#include <stddef.h>
#include <stdio.h>

#define SIZE(T) printf(#T " sizeof %zu\n", sizeof(T))
#define OFF(T, F) printf(#T " " #F " %zu\n", offsetof(T, F))

int main(void)
{
    SIZE(rollout_error);
    OFF(rollout_error, code); OFF(rollout_error, line); OFF(rollout_error, column);
    OFF(rollout_error, file); OFF(rollout_error, field); OFF(rollout_error, message);

    SIZE(rollout_attr);
    OFF(rollout_attr, key); OFF(rollout_attr, key_len);
    OFF(rollout_attr, value); OFF(rollout_attr, value_len);

    SIZE(rollout_context);
    OFF(rollout_context, org); OFF(rollout_context, org_len);
    OFF(rollout_context, user); OFF(rollout_context, user_len);
    OFF(rollout_context, session); OFF(rollout_context, session_len);
    OFF(rollout_context, request); OFF(rollout_context, request_len);
    OFF(rollout_context, attrs); OFF(rollout_context, n_attrs);

    SIZE(rollout_decision);
    OFF(rollout_decision, variant); OFF(rollout_decision, reason);
    OFF(rollout_decision, cohort); OFF(rollout_decision, phase);
    OFF(rollout_decision, step); OFF(rollout_decision, unit);
    OFF(rollout_decision, bucket); OFF(rollout_decision, weight);
    OFF(rollout_decision, cohort_name); OFF(rollout_decision, phase_name);

    SIZE(rollout_state);
    OFF(rollout_state, format); OFF(rollout_state, status);
    OFF(rollout_state, plan_fingerprint); OFF(rollout_state, revision);
    OFF(rollout_state, started_at); OFF(rollout_state, updated_at);
    OFF(rollout_state, phase); OFF(rollout_state, step); OFF(rollout_state, gate);
    OFF(rollout_state, paused_from); OFF(rollout_state, n_pauses);
    OFF(rollout_state, last_verdict);
    OFF(rollout_state, pause_from); OFF(rollout_state, pause_to);
    OFF(rollout_state, gate_go_at); OFF(rollout_state, gate_no_go_at);
    OFF(rollout_state, gate_approvals); OFF(rollout_state, gate_override_role);
    OFF(rollout_state, consecutive_failures); OFF(rollout_state, consecutive_inconclusive);
    OFF(rollout_state, rollback_reason); OFF(rollout_state, rollback_done);
    OFF(rollout_state, rollback_started_at); OFF(rollout_state, status_since);

    SIZE(rollout_event);
    OFF(rollout_event, type); OFF(rollout_event, gate); OFF(rollout_event, role);
    OFF(rollout_event, override); OFF(rollout_event, verdict);
    OFF(rollout_event, reason); OFF(rollout_event, confirmation);

    SIZE(rollout_action);
    OFF(rollout_action, type); OFF(rollout_action, cohort); OFF(rollout_action, weight);
    OFF(rollout_action, unit); OFF(rollout_action, gate); OFF(rollout_action, comm);
    OFF(rollout_action, roles); OFF(rollout_action, due); OFF(rollout_action, id);
    OFF(rollout_action, label); OFF(rollout_action, channel);
    OFF(rollout_action, audience); OFF(rollout_action, text);

    SIZE(rollout_cohort_weight);
    OFF(rollout_cohort_weight, weight); OFF(rollout_cohort_weight, unit);
    OFF(rollout_cohort_weight, phase); OFF(rollout_cohort_weight, step);

    SIZE(rollout_schedule_info);
    OFF(rollout_schedule_info, status); OFF(rollout_schedule_info, phase);
    OFF(rollout_schedule_info, step); OFF(rollout_schedule_info, gate);
    OFF(rollout_schedule_info, gate_pending); OFF(rollout_schedule_info, gate_due);
    OFF(rollout_schedule_info, slip); OFF(rollout_schedule_info, next_change);
    OFF(rollout_schedule_info, next_at); OFF(rollout_schedule_info, next_phase);
    OFF(rollout_schedule_info, next_step); OFF(rollout_schedule_info, next_weight);
    OFF(rollout_schedule_info, bake_start); OFF(rollout_schedule_info, complete_at);
    OFF(rollout_schedule_info, n_cohorts); OFF(rollout_schedule_info, cohorts);

    SIZE(rollout_calendar_event);
    OFF(rollout_calendar_event, at); OFF(rollout_calendar_event, kind);
    OFF(rollout_calendar_event, phase); OFF(rollout_calendar_event, step);
    OFF(rollout_calendar_event, gate); OFF(rollout_calendar_event, cohort);
    OFF(rollout_calendar_event, weight); OFF(rollout_calendar_event, projected);
    OFF(rollout_calendar_event, title); OFF(rollout_calendar_event, channel);
    OFF(rollout_calendar_event, audience); OFF(rollout_calendar_event, message);
    OFF(rollout_calendar_event, owners);

    SIZE(rollout_criterion_result);
    OFF(rollout_criterion_result, id); OFF(rollout_criterion_result, metric);
    OFF(rollout_criterion_result, verdict); OFF(rollout_criterion_result, rollback);
    OFF(rollout_criterion_result, rollback_reason); OFF(rollout_criterion_result, observed);
    OFF(rollout_criterion_result, threshold); OFF(rollout_criterion_result, baseline);
    OFF(rollout_criterion_result, p_value); OFF(rollout_criterion_result, lower);
    OFF(rollout_criterion_result, upper); OFF(rollout_criterion_result, samples);
    OFF(rollout_criterion_result, reason);

    SIZE(rollout_evaluation);
    OFF(rollout_evaluation, verdict); OFF(rollout_evaluation, criteria);
    OFF(rollout_evaluation, n_results); OFF(rollout_evaluation, n_pass);
    OFF(rollout_evaluation, n_fail); OFF(rollout_evaluation, n_inconclusive);
    OFF(rollout_evaluation, rollback_index); OFF(rollout_evaluation, rollback_reason);
    OFF(rollout_evaluation, results);
    return 0;
}
