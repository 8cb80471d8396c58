/* SPDX-License-Identifier: MIT */
/*
 * cli.h — shared by the rollout tool's subcommands (cli/cmd_*.c).
 *
 * Exit codes: 0 success, 1 invalid input (plan, state, event), 2 usage or
 * I/O error; `evaluate` adds 3 FAIL, 4 INCONCLUSIVE, 5 ROLLBACK.
 */
#ifndef ROLLOUT_CLI_H
#define ROLLOUT_CLI_H

#include "rollout.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_INVALID = 1, CLI_USAGE = 2 };

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);  /* argv[0] is the subcommand name */
} cli_command;

/* Loads PLAN, or the embedded seed plan when path is NULL, into *out.
 * Returns CLI_OK, or prints the error as "file:line:col: message" on stderr
 * and returns the exit code: CLI_INVALID for a bad plan, CLI_USAGE when the
 * file cannot be read. */
int cli_load_plan(const char *path, rollout_plan **out);
/* Reads an encoded state from a file, without its trailing newline; NULL
 * (after "WHO: cannot open PATH" on stderr) when it cannot be read. */
char *cli_read_state_file(const char *who, const char *path, size_t *len);
/* Parses ISO-8601 time or integer epoch seconds; prints an error on failure. */
bool cli_parse_time(const char *s, int64_t *out);
/* "--name value" / "--name=value" option matching; advances *i. */
bool cli_opt(int argc, char **argv, int *i, const char *name, const char **value);
/* Writes a JSON string literal: always valid JSON (rp_json_escape). */
void cli_json_str(FILE *f, const char *s, size_t n);
/* Every text that came from a plan, a request, the command line or a
 * library error message is printed through this, never raw, so no control
 * character reaches the terminal (rp_text_escape: \xHH). Returns s itself
 * when it needs no escaping, else an escaped copy valid for the next 15
 * calls (enough for one printf); NULL stays NULL. */
const char *cli_text(const char *s);
/* The clock of the commands that run over time (operator, status --watch):
 * the wall clock, or with --time-scale N --clock-start T [--clock-origin W]
 * a plan clock that shows T at the wall-clock epoch second W (default: when
 * the command started) and runs N plan seconds per real second. Processes
 * given the same three values agree on the plan time (scripts/demo.sh). */
typedef struct cli_clock {
    double scale;        /* 0: the wall clock */
    int64_t start;
    bool have_start;
    double origin;       /* wall-clock epoch seconds */
} cli_clock;
/* Consumes one of the three options at argv[*i]: true when it was one (and
 * *bad set when its value is wrong, with the error printed). */
bool cli_clock_option(cli_clock *c, int argc, char **argv, int *i, bool *bad);
/* After the options: the pairing rules, and the origin defaulted to now. */
bool cli_clock_check(cli_clock *c, const char *cmd);
int64_t cli_clock_now(const cli_clock *c);
/* For the commands that run until stopped (operator, state follow): SIGTERM
 * and SIGINT set the flag returned, interrupting a sleep, and the command
 * ends at its next safe point. */
volatile int *cli_stop_on_signals(void);
/* Formats t as ISO-8601 UTC. */
void cli_format_time(int64_t t, char *buf, size_t cap);

/* A weight (units of 0.001 %) as a JSON number of percent: 10000 -> "10",
 * 12500 -> "12.5", 1 -> "0.001". Valid for the next 7 calls. */
const char *cli_percent(uint32_t w);
/* How far t is from start, the one notation of every command: "T+0",
 * "T+4h", whole hours under two days ("T+24h", "T+36h"), days from two days
 * on ("T+2d", "T+3d12h"), minutes and seconds when there are any ("T+1h30m");
 * "T-..." before start. */
void cli_format_offset(int64_t t, int64_t start, char *buf, size_t cap);
/* The state START at `start` would leave: running, no gate decided. Built
 * directly rather than through the state machine so read-only commands need
 * nothing but the plan and a time. */
void cli_started_state(const rollout_plan *plan, int64_t start, rollout_state *s);
/* --projected: records in *s the GO of every gate that is pending at `at`,
 * at the moment it fell due, as `rollout calendar` projects the rollout.
 * Returns rollout_schedule's status. */
int cli_project_gos(const rollout_plan *plan, rollout_state *s, int64_t at);

/* One per subcommand file. */
int cmd_validate(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_bucket(int argc, char **argv);
int cmd_decide(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_schedule(int argc, char **argv);
int cmd_calendar(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_state_migrate(int argc, char **argv); /* `rollout state migrate` (cmd_migrate.c) */
int cmd_state_follow(int argc, char **argv);  /* `rollout state follow` (cmd_follow.c) */
int cmd_operator(int argc, char **argv);      /* cmd_operator.c */
int cmd_status(int argc, char **argv);        /* `rollout status` (cmd_status.c) */
/* Reads the state of plan from FILE (path) or from the store at store_url
 * (cmd_state.c); prints the problem and returns an exit code on failure. */
int cli_read_state(const rollout_plan *plan, const char *path, const char *store_url,
                   const char *key_file, rollout_state *state);
/* The audit trail of s as a JSON array (cmd_status.c). */
void cli_trail_json(const rollout_plan *plan, const rollout_state *s);

/* cmd_state.c: locks the state file, reads it, lets update turn its text
 * into a new one (out_len 0 or the same text: nothing is written), writes
 * that atomically and unlocks. Returns update's or the I/O's exit code. */
int cli_state_update(const char *path,
                     int (*update)(const char *text, size_t len, char *out, size_t cap,
                                   size_t *out_len, void *ctx),
                     void *ctx);

/* The same, recording argv as the lock's holder (for the message of a
 * writer that gives up waiting). */
int cli_state_update_as(const char *path, int argc, char **argv,
                        int (*update)(const char *text, size_t len, char *out, size_t cap,
                                      size_t *out_len, void *ctx),
                        void *ctx);

/* `rollout state --store URL` (cmd_store.c): the state's load, init and
 * apply steps on a shared store. Each prints its error, naming the store,
 * and returns the exit code. */
typedef struct rollout_store rollout_store;
int cli_store_open(const char *url, const char *key_file, rollout_store **out);
int cli_store_load(rollout_store *st, const rollout_plan *plan, rollout_state *state);
int cli_store_init(rollout_store *st, const rollout_plan *plan, const rollout_state *state);
int cli_store_apply(rollout_store *st, const rollout_plan *plan, const rollout_event *e,
                    int64_t now, rollout_state *next, rollout_action *actions, size_t *n);

#endif
