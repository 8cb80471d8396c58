/* SPDX-License-Identifier: MIT */
/* cmd_bucket.c — `rollout bucket`: the bucket of unit ids under a salt, or
 * under a plan's (or a named) compatibility bucket function. */
#include "cli.h"
#include "plan.h" /* the plan's salt */

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rollout bucket [--salt SALT | --plan PLAN | --hash HASH --key KEY]\n"
            "                      [--weight W] [--json] [--] ID...\n");
}

static void help(void)
{
    usage(stdout);
    printf("\n"
           "Prints the bucket (0..99999) of each unit ID, one per line as\n"
           "\"BUCKET ID\", computed as docs/bucketing.md describes: XXH3-64 of the\n"
           "id seeded with XXH3-64 of the salt, mapped by multiply-shift.\n\n"
           "  --salt SALT   the rollout's salt\n"
           "  --plan PLAN   bucket as PLAN does (default: the seed plan): its salt, or\n"
           "                the compatibility bucket function of its bucketing: section\n"
           "  --hash HASH   a bucket function: xxh3 (with --salt), nginx_split_clients,\n"
           "                unleash, growthbook_v1, growthbook_v2, launchdarkly or flagd\n"
           "  --key KEY     what that function hashes besides the id (docs/bucketing.md)\n"
           "  --weight W    also say whether each id is in at weight W (\"25%%\", \"12.5%%\"):\n"
           "                in when bucket < weight\n"
           "  --json        print a JSON array of {\"id\", \"bucket\"[, \"in\"]}\n"
           "  --            the ids that follow may start with '-'\n\n"
           "Under a compatibility bucket function the buckets are the peer's (0..100000;\n"
           "100000: out even at 100 %%), and the output names the function: a first\n"
           "line \"# bucketed by HASH\", or \"hash\" in each JSON object.\n\n"
           "Exit 0 on success, 1 when an id is empty (it has no bucket), 2 on usage errors.\n");
}

int cmd_bucket(int argc, char **argv)
{
    const char *salt = NULL, *plan_path = NULL, *weight_s = NULL, *hash_s = NULL, *key = NULL;
    bool json = false, dashdash = false;
    int n_ids = 0;
    /* ids are collected in place: argv entries that are not options */
    char **ids = calloc((size_t)argc, sizeof *ids);
    if (!ids)
        return CLI_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (dashdash || argv[i][0] != '-' || argv[i][1] == '\0') {
            ids[n_ids++] = argv[i];
        } else if (!strcmp(argv[i], "--")) {
            dashdash = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help();
            free(ids);
            return CLI_OK;
        } else if (cli_opt(argc, argv, &i, "--salt", &v)) {
            salt = v;
        } else if (cli_opt(argc, argv, &i, "--plan", &v)) {
            plan_path = v;
        } else if (cli_opt(argc, argv, &i, "--hash", &v)) {
            hash_s = v;
        } else if (cli_opt(argc, argv, &i, "--key", &v)) {
            key = v;
        } else if (cli_opt(argc, argv, &i, "--weight", &v)) {
            weight_s = v;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else {
            fprintf(stderr, "rollout bucket: unknown option \"%s\"\n", cli_text(argv[i]));
            usage(stderr);
            free(ids);
            return CLI_USAGE;
        }
    }
    int hash = hash_s ? rollout_hash_from_name(hash_s, strlen(hash_s)) : ROLLOUT_HASH_XXH3;
    const char *bad = !n_ids                  ? "no ids given"
                      : salt && plan_path     ? "give --salt or --plan, not both"
                      : hash < 0              ? "unknown --hash"
                      : plan_path && hash_s   ? "give --plan or --hash, not both"
                      : hash && (salt || !key) ? "--hash HASH needs --key KEY (not --salt)"
                      : !hash && key          ? "xxh3 takes --salt, not --key"
                                              : NULL;
    if (bad) {
        fprintf(stderr, "rollout bucket: %s\n", bad);
        usage(stderr);
        free(ids);
        return CLI_USAGE;
    }
    uint32_t weight = 0;
    if (weight_s && !rp_parse_weight(weight_s, strlen(weight_s), &weight)) {
        fprintf(stderr, "rollout bucket: \"%s\" is not a weight (write 25%% or 12.5%%)\n",
                cli_text(weight_s));
        free(ids);
        return CLI_USAGE;
    }
    rollout_plan *plan = NULL;
    size_t key_len = key ? strlen(key) : 0;
    if (salt) {
        key = salt;
        key_len = strlen(salt);
    } else if (!hash) {
        int load_rc = cli_load_plan(plan_path, &plan);
        if (load_rc) {
            free(ids);
            return load_rc;
        }
        hash = rollout_plan_hash(plan, &key, &key_len);
    }
    uint32_t probe;
    if (hash && rollout_bucket_with(hash, key, key_len, "x", 1, &probe)) {
        fprintf(stderr, "rollout bucket: %s does not take the key \"%s\" (docs/bucketing.md)\n",
                rollout_hash_name(hash), cli_text(key));
        free(ids);
        return CLI_USAGE;
    }
    /* a compatibility function names itself; XXH3 prints as it always has */
    if (hash && !json)
        printf("# bucketed by %s\n", rollout_hash_name(hash));

    int rc = CLI_OK;
    int printed = 0; /* JSON objects so far: an empty first id prints none */
    if (json)
        fputc('[', stdout);
    for (int k = 0; k < n_ids; k++) {
        uint32_t b;
        size_t len = strlen(ids[k]);
        if (rollout_bucket_with(hash, key, key_len, ids[k], len, &b) != ROLLOUT_OK) {
            fprintf(stderr, "rollout bucket: an empty id has no bucket\n");
            rc = CLI_INVALID;
            continue;
        }
        if (json) {
            fputs(printed++ ? ",\n {\"id\": " : "{\"id\": ", stdout);
            cli_json_str(stdout, ids[k], len);
            printf(", \"bucket\": %u", (unsigned)b);
            if (hash)
                printf(", \"hash\": \"%s\"", rollout_hash_name(hash));
            if (weight_s)
                printf(", \"in\": %s", b < weight ? "true" : "false");
            fputc('}', stdout);
        } else if (weight_s) {
            printf("%u %s %s\n", (unsigned)b, b < weight ? "in " : "out", cli_text(ids[k]));
        } else {
            printf("%u %s\n", (unsigned)b, cli_text(ids[k]));
        }
    }
    if (json)
        fputs("]\n", stdout);
    rollout_plan_unref(plan);
    free(ids);
    return rc;
}
