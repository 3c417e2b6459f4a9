/* Unit tests for genesis: the text form, validation errors (each naming its line), the split of
 * the supply with its rounding remainder, the canonical encoding and the ledger id. */
#include "fixture.h"

#include "btt/bencode.h"

static char keys[BTT_POOL_COUNT][BTT_ACCOUNT_STR_LEN + 1];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0) return -1;
    for (int p = 0; p < BTT_POOL_COUNT; p++) {
        btt_wallet *w = fx_wallet(0xD0, (uint8_t)p);
        btt_account_format(fx_acct(w), keys[p]);
        btt_wallet_free(w);
    }
    return 0;
}

/* A config with the given extra lines appended (later lines may repeat keys on purpose). */
static size_t config(char *out, size_t cap, const char *supply_line, const char *extra)
{
    return (size_t)snprintf(out, cap,
                            "# btt genesis for tests\n"
                            "name = btt-test-1\n"
                            "%s"
                            "faucet.grant = 1000   # BTT per new account\n"
                            "faucet.difficulty = 20\n"
                            "\n"
                            "remainder = foundation\n"
                            "pool.onboarding  = %s 2000\n"
                            "pool.trx_holders = %s 1000\n"
                            "pool.investors   = %s 2500\r\n"
                            "\tpool.foundation = %s  2500\n"
                            "pool.tron = %s 2000"
                            "%s",
                            supply_line, keys[0], keys[1], keys[2], keys[3], keys[4], extra);
}

static void test_parse_ok(void **state)
{
    (void)state;
    char text[2048];
    size_t n = config(text, sizeof text, "", "\n# end\n");
    btt_genesis g;
    btt_error err = {0};
    if (btt_genesis_parse(text, n, &g, &err) != BTT_OK) {
        print_error("%s\n", err.msg);
        fail();
    }
    assert_string_equal(g.name, "btt-test-1");
    assert_true(btt_amount_eq(g.supply, BTT_AMOUNT_SUPPLY));
    assert_int_equal(btt_amount_units(g.faucet_grant), 1000 * BTT_UNITS_PER_BTT);
    assert_int_equal(g.faucet_bits, 20);
    assert_int_equal(g.remainder, BTT_POOL_FOUNDATION);
    static const uint32_t bp[] = {2000, 1000, 2500, 2500, 2000};
    for (int p = 0; p < BTT_POOL_COUNT; p++) {
        assert_int_equal(g.pool_bp[p], bp[p]);
        char s[BTT_ACCOUNT_STR_LEN + 1];
        assert_string_equal(btt_account_format(&g.pool_key[p], s), keys[p]);
    }
    btt_amount bal[BTT_POOL_COUNT];
    assert_int_equal(btt_genesis_allocate(&g, bal, NULL), BTT_OK);
    uint64_t sum = 0;
    for (int p = 0; p < BTT_POOL_COUNT; p++) {
        assert_int_equal(btt_amount_units(bal[p]), BTT_SUPPLY_UNITS / 10000 * bp[p]);
        sum += btt_amount_units(bal[p]);
    }
    assert_int_equal(sum, BTT_SUPPLY_UNITS);

    btt_ledger *l;
    assert_int_equal(btt_ledger_new(&g, &l, NULL), BTT_OK);
    assert_int_equal(btt_ledger_check_invariant(l, NULL), BTT_OK);
    assert_int_equal(btt_ledger_num_accounts(l), BTT_POOL_COUNT);
    btt_ledger_free(l);
}

static void test_remainder(void **state)
{
    (void)state;
    char text[2048];
    /* 1.000001 BTT split 20/10/25/25/20 %: every share rounds down; the remainder goes to "foundation" */
    size_t n = config(text, sizeof text, "", "\n");
    btt_genesis g;
    btt_error err = {0};
    assert_int_equal(btt_genesis_parse(text, n, &g, &err), BTT_OK);
    g.supply = BTT_AMOUNT_UNITS(1000001);
    g.faucet_grant = BTT_AMOUNT_UNITS(1);
    btt_amount bal[BTT_POOL_COUNT];
    assert_int_equal(btt_genesis_allocate(&g, bal, NULL), BTT_OK);
    /* floor(1000001 * bp / 10000): 200000, 100000, 250000, 250000, 200000 = 1000000; +1 to foundation */
    assert_int_equal(btt_amount_units(bal[BTT_POOL_ONBOARDING]), 200000);
    assert_int_equal(btt_amount_units(bal[BTT_POOL_TRX_HOLDERS]), 100000);
    assert_int_equal(btt_amount_units(bal[BTT_POOL_INVESTORS]), 250000);
    assert_int_equal(btt_amount_units(bal[BTT_POOL_FOUNDATION]), 250001);
    assert_int_equal(btt_amount_units(bal[BTT_POOL_TRON]), 200000);
    /* odd supply and shares: sum is always exact */
    g.pool_bp[0] = 3333, g.pool_bp[1] = 3333, g.pool_bp[2] = 3334, g.pool_bp[3] = 0, g.pool_bp[4] = 0;
    g.remainder = BTT_POOL_TRON;
    for (uint64_t s = 1; s < 3000; s += 7) {
        g.supply = BTT_AMOUNT_UNITS(s);
        g.faucet_grant = BTT_AMOUNT_ZERO;
        assert_int_equal(btt_genesis_allocate(&g, bal, NULL), BTT_OK);
        uint64_t sum = 0;
        for (int p = 0; p < BTT_POOL_COUNT; p++) sum += btt_amount_units(bal[p]);
        assert_int_equal(sum, s);
        assert_true(btt_amount_units(bal[BTT_POOL_TRON]) < 3); /* only the remainder */
        btt_ledger *l;
        assert_int_equal(btt_ledger_new(&g, &l, NULL), BTT_OK);
        assert_int_equal(btt_ledger_check_invariant(l, NULL), BTT_OK);
        btt_ledger_free(l);
    }
}

static void parse_fails(const char *supply_line, const char *extra, const char *msg_part)
{
    char text[4096];
    size_t n = config(text, sizeof text, supply_line, extra);
    btt_genesis g;
    memset(&g, 0x5a, sizeof g);
    btt_error err = {0};
    btt_err rc = btt_genesis_parse(text, n, &g, &err);
    if (rc != BTT_EINVAL || !strstr(err.msg, msg_part)) {
        print_error("extra '%s': got %s '%s', want EINVAL containing '%s'\n", extra, btt_err_name(rc), err.msg,
                    msg_part);
        fail();
    }
    assert_int_equal(g.faucet_bits, 0x5a5a5a5a); /* untouched */
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_fails("", "\nfaucet.grant = 5\n", "line 12: 'faucet.grant' given twice");
    parse_fails("", "\ncolour = blue\n", "line 12: unknown key 'colour'");
    parse_fails("", "\npool.whales = x 1\n", "unknown key 'pool.whales'");
    parse_fails("", "\njust some words\n", "line 12: expected 'key = value'");
    parse_fails("supply = 990000000001\n", "\n", "line 3: amount '990000000001' is above the total supply");
    parse_fails("supply = -5\n", "\n", "line 3: amount '-5': signs are not allowed");
    parse_fails("supply = 0\n", "\n", "supply must be positive");
    parse_fails("supply = 10\n", "\n", "faucet grant exceeds the supply");
    parse_fails("name = again\n", "\n", "'name' given twice");
    parse_fails("faucet.difficulty = 65\n", "\n", "line 3: faucet.difficulty must be 0 to 64");
    parse_fails("", "x\n", "basis points");                 /* "2000x" */
    parse_fails("", " 5\n", "basis points");                /* "2000 5" */
    parse_fails("", "0\n", "basis points");                  /* 20000 */
    parse_fails("", "\nremainder = whales\n", "given twice");
    parse_fails("supply =\n", "\n", "line 3: 'supply' has no value");
    /* build a few configs by hand for what the template cannot express */
    char text[4096];
    btt_genesis g;
    btt_error err = {0};
    int n = snprintf(text, sizeof text, "name = x\nfaucet.grant = 1\nfaucet.difficulty = 8\nremainder = tron\n"
                                        "pool.onboarding = %s 10000\n", keys[0]);
    assert_int_equal(btt_genesis_parse(text, (size_t)n, &g, &err), BTT_EINVAL);
    assert_non_null(strstr(err.msg, "missing pool.trx_holders"));
    n = snprintf(text, sizeof text, "faucet.grant = 1\n");
    assert_int_equal(btt_genesis_parse(text, (size_t)n, &g, &err), BTT_EINVAL);
    assert_non_null(strstr(err.msg, "missing name"));
    /* shares that do not sum to 10000 */
    n = snprintf(text, sizeof text,
                 "name = x\nfaucet.grant = 1\nfaucet.difficulty = 65\nremainder = tron\npool.onboarding = %s 1\n"
                 "pool.trx_holders = %s 1\npool.investors = %s 1\npool.foundation = %s 1\npool.tron = %s 1\n",
                 keys[0], keys[1], keys[2], keys[3], keys[4]);
    assert_int_equal(btt_genesis_parse(text, (size_t)n, &g, &err), BTT_EINVAL);
    assert_non_null(strstr(err.msg, "line 3: faucet.difficulty must be 0 to 64"));
    text[strstr(text, "65") - text + 1] = ' '; /* "6 " */
    assert_int_equal(btt_genesis_parse(text, (size_t)n, &g, &err), BTT_EINVAL);
    assert_non_null(strstr(err.msg, "sum to 5 basis points, not 10000"));
    /* two pools with one account; a typo in an account */
    n = snprintf(text, sizeof text,
                 "name = x\nfaucet.grant = 1\nfaucet.difficulty = 6\nremainder = tron\npool.onboarding = %s 2000\n"
                 "pool.trx_holders = %s 2000\npool.investors = %s 2000\npool.foundation = %s 2000\npool.tron = %s 2000\n",
                 keys[0], keys[1], keys[2], keys[3], keys[1]);
    assert_int_equal(btt_genesis_parse(text, (size_t)n, &g, &err), BTT_EINVAL);
    assert_non_null(strstr(err.msg, "pools trx_holders and tron have the same account"));
    char *k = strstr(text, "pool.tron = btt1") + strlen("pool.tron = btt1") + 5;
    *k = *k == 'a' ? 'b' : 'a';
    assert_int_equal(btt_genesis_parse(text, (size_t)n, &g, &err), BTT_EINVAL);
    assert_non_null(strstr(err.msg, "line 9: pool.tron: btt account: checksum mismatch"));
    /* names */
    n = snprintf(text, sizeof text, "name = has space\n");
    assert_int_equal(btt_genesis_parse(text, (size_t)n, &g, &err), BTT_EINVAL);
    assert_non_null(strstr(err.msg, "line 1: name may only use"));
    n = snprintf(text, sizeof text, "name = %070d\n", 0);
    assert_int_equal(btt_genesis_parse(text, (size_t)n, &g, &err), BTT_EINVAL);
    assert_non_null(strstr(err.msg, "longer than 63"));
    /* a NUL byte inside */
    char nul[] = "name = a\0b\n";
    assert_int_equal(btt_genesis_parse(nul, sizeof nul - 1, &g, &err), BTT_EINVAL);
}

static void test_encoding_and_id(void **state)
{
    (void)state;
    char text[2048];
    size_t n = config(text, sizeof text, "", "\n");
    btt_genesis g;
    assert_int_equal(btt_genesis_parse(text, n, &g, NULL), BTT_OK);
    btt_buf b;
    btt_buf_init(&b, 4096);
    assert_int_equal(btt_genesis_encode(&g, &b), BTT_OK);
    btt_ben_doc *doc;
    assert_int_equal(btt_ben_decode(b.data, b.len, 0, NULL, &doc, NULL), BTT_OK); /* strict: canonical */
    const btt_ben *root = btt_ben_root(doc);
    int64_t v;
    assert_true(btt_ben_get_int(btt_ben_dict_get(root, "faucet-bits"), &v));
    assert_int_equal(v, 20);
    assert_true(btt_ben_get_int(btt_ben_dict_get(root, "supply"), &v));
    assert_int_equal(v, BTT_SUPPLY_UNITS);
    assert_int_equal(btt_ben_count(btt_ben_dict_get(root, "pools")), BTT_POOL_COUNT);
    btt_ben_free(doc);
    /* the id is BLAKE2b-256 personalised "btt-ledger-v1" over exactly these bytes */
    uint8_t id[32], want[32];
    uint8_t personal[16] = "btt-ledger-v1";
    crypto_generichash_blake2b_salt_personal(want, 32, b.data, b.len, NULL, 0, NULL, personal);
    assert_int_equal(btt_genesis_ledger_id(&g, id, NULL), BTT_OK);
    assert_memory_equal(id, want, 32);
    btt_buf_free(&b);
    /* every field changes the id */
    btt_genesis h = g;
    h.name[0] = 'c';
    uint8_t id2[32];
    assert_int_equal(btt_genesis_ledger_id(&h, id2, NULL), BTT_OK);
    assert_memory_not_equal(id, id2, 32);
    h = g;
    h.faucet_bits++;
    assert_int_equal(btt_genesis_ledger_id(&h, id2, NULL), BTT_OK);
    assert_memory_not_equal(id, id2, 32);
    h = g;
    h.remainder = BTT_POOL_TRON;
    assert_int_equal(btt_genesis_ledger_id(&h, id2, NULL), BTT_OK);
    assert_memory_not_equal(id, id2, 32);
    /* an invalid genesis has no id and no ledger */
    h = g;
    h.pool_bp[0] = 0;
    btt_error err = {0};
    assert_int_equal(btt_genesis_ledger_id(&h, id2, &err), BTT_EINVAL);
    btt_ledger *l = (btt_ledger *)(uintptr_t)1;
    assert_int_equal(btt_ledger_new(&h, &l, &err), BTT_EINVAL);
    assert_null(l);
    h = g;
    memset(&h.pool_key[2], 0, sizeof h.pool_key[2]);
    assert_int_equal(btt_ledger_new(&h, &l, &err), BTT_EINVAL);
    assert_non_null(strstr(err.msg, "pool investors: not a valid Ed25519 public key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_remainder),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_encoding_and_id),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
