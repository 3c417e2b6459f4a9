/* libFuzzer target: magnet links. The input is NUL-terminated and parsed; on success the
 * link is formatted, the result re-parsed, and the info-hash, name and trackers must survive;
 * formatting the re-parsed link must give the same string (canonical form). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/magnet.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *uri = malloc(size + 1);
    if (!uri) return 0;
    memcpy(uri, data, size);
    uri[size] = '\0';

    btt_magnet *m = NULL;
    btt_error err;
    btt_err rc = btt_magnet_parse(uri, &m, &err);
    free(uri);
    if (rc != BTT_OK) {
        CHECK(m == NULL);
        CHECK(err.code == rc);
        return 0;
    }
    CHECK(m != NULL);
    CHECK(m->num_trackers <= 100 && m->num_peers <= 200 && m->num_select <= 100000);
    for (size_t i = 1; i < m->num_select; i++) CHECK(m->select[i - 1] < m->select[i]);
    for (size_t i = 0; i < m->num_trackers; i++) {
        CHECK(m->trackers[i] != NULL);
        for (size_t j = 0; j < i; j++) CHECK(strcmp(m->trackers[i], m->trackers[j]) != 0);
    }

    char *s = btt_magnet_format(m);
    CHECK(s != NULL);
    if (strlen(s) <= 64 * 1024) {
        btt_magnet *m2 = NULL;
        rc = btt_magnet_parse(s, &m2, &err);
        if (rc != BTT_OK) {
            fprintf(stderr, "formatted link rejected (%s): %s\nlink: %s\n", btt_err_name(rc), err.msg, s);
            abort();
        }
        CHECK(memcmp(m2->info_hash, m->info_hash, BTT_SHA1_LEN) == 0);
        CHECK((m->name == NULL) == (m2->name == NULL));
        CHECK(m->name == NULL || strcmp(m->name, m2->name) == 0);
        CHECK(m2->num_trackers == m->num_trackers);
        for (size_t i = 0; i < m->num_trackers; i++) CHECK(strcmp(m->trackers[i], m2->trackers[i]) == 0);
        char *s2 = btt_magnet_format(m2);
        CHECK(s2 != NULL);
        CHECK(strcmp(s, s2) == 0);
        free(s2);
        btt_magnet_free(m2);
    }
    free(s);
    btt_magnet_free(m);
    return 0;
}
