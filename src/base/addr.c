/* addr.c - endpoints: parse, format, compare, convert. */
#include "btt/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

btt_err btt_addr_parse(const char *s, btt_addr *out, btt_error *err)
{
    char host[64];
    const char *port;
    memset(out, 0, sizeof *out);
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
            return btt_error_set(err, BTT_EINVAL, "'%s': expected [IPv6]:PORT", s);
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = 0;
        port = close + 2;
        if (inet_pton(AF_INET6, host, out->ip) != 1)
            return btt_error_set(err, BTT_EINVAL, "'%s': bad IPv6 address", s);
        out->family = 6;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host)
            return btt_error_set(err, BTT_EINVAL, "'%s': expected HOST:PORT", s);
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
        port = colon + 1;
        if (inet_pton(AF_INET, host, out->ip) != 1)
            return btt_error_set(err, BTT_EINVAL, "'%s': bad IPv4 address (numeric addresses only)", s);
        out->family = 4;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 1 || p > 65535) return btt_error_set(err, BTT_EINVAL, "'%s': bad port", s);
    out->port = (uint16_t)p;
    return BTT_OK;
}

const char *btt_addr_format(const btt_addr *a, char *buf)
{
    char ip[INET6_ADDRSTRLEN];
    if (a->family == 6) {
        inet_ntop(AF_INET6, a->ip, ip, sizeof ip);
        snprintf(buf, BTT_ADDR_STRLEN, "[%s]:%u", ip, a->port);
    } else {
        inet_ntop(AF_INET, a->ip, ip, sizeof ip);
        snprintf(buf, BTT_ADDR_STRLEN, "%s:%u", ip, a->port);
    }
    return buf;
}

bool btt_addr_same_ip(const btt_addr *a, const btt_addr *b)
{
    return a->family == b->family && memcmp(a->ip, b->ip, a->family == 6 ? 16 : 4) == 0;
}

bool btt_addr_eq(const btt_addr *a, const btt_addr *b) { return btt_addr_same_ip(a, b) && a->port == b->port; }

void btt_addr_to_sockaddr(const btt_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == 6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, a->ip, 16);
        s6->sin6_port = htons(a->port);
        *len = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, a->ip, 4);
        s4->sin_port = htons(a->port);
        *len = sizeof *s4;
    }
}

btt_err btt_addr_from_sockaddr(const struct sockaddr *sa, btt_addr *out)
{
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        out->family = 4;
        memcpy(out->ip, &s4->sin_addr, 4);
        out->port = ntohs(s4->sin_port);
        return BTT_OK;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(&s6->sin6_addr, mapped, 12) == 0) {
            out->family = 4;
            memcpy(out->ip, (const uint8_t *)&s6->sin6_addr + 12, 4);
        } else {
            out->family = 6;
            memcpy(out->ip, &s6->sin6_addr, 16);
        }
        out->port = ntohs(s6->sin6_port);
        return BTT_OK;
    }
    return BTT_EINVAL;
}

void btt_addr_from_compact4(const uint8_t p[6], btt_addr *out)
{
    memset(out, 0, sizeof *out);
    out->family = 4;
    memcpy(out->ip, p, 4);
    out->port = (uint16_t)(p[4] << 8 | p[5]);
}

void btt_addr_from_compact6(const uint8_t p[18], btt_addr *out)
{
    memset(out, 0, sizeof *out);
    out->family = 6;
    memcpy(out->ip, p, 16);
    out->port = (uint16_t)(p[16] << 8 | p[17]);
}

size_t btt_addr_to_compact(const btt_addr *a, uint8_t *out)
{
    size_t n = a->family == 6 ? 16 : 4;
    memcpy(out, a->ip, n);
    out[n] = (uint8_t)(a->port >> 8);
    out[n + 1] = (uint8_t)a->port;
    return n + 2;
}
