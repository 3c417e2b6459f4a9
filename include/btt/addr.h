/* btt/addr.h - IPv4/IPv6 endpoint as a small value, with parsing and formatting. */
#ifndef BTT_ADDR_H
#define BTT_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "btt/error.h"

typedef struct btt_addr {
    uint8_t family; /* 4 or 6 */
    uint8_t ip[16]; /* IPv4 in the first 4 bytes, network order */
    uint16_t port;  /* host order */
} btt_addr;

#define BTT_ADDR_STRLEN 64

/* Parses "1.2.3.4:6881", "[::1]:6881" (numeric hosts only; no DNS). */
BTT_WUR btt_err btt_addr_parse(const char *s, btt_addr *out, btt_error *err);
/* "1.2.3.4:6881" / "[::1]:6881" into buf (BTT_ADDR_STRLEN bytes); returns buf. */
const char *btt_addr_format(const btt_addr *a, char *buf);
bool btt_addr_eq(const btt_addr *a, const btt_addr *b);
/* Same IP, any port. */
bool btt_addr_same_ip(const btt_addr *a, const btt_addr *b);

/* Conversions to and from socket addresses (IPv4-mapped IPv6 becomes IPv4). */
void btt_addr_to_sockaddr(const btt_addr *a, struct sockaddr_storage *ss, socklen_t *len);
BTT_WUR btt_err btt_addr_from_sockaddr(const struct sockaddr *sa, btt_addr *out);

/* Compact forms (BEP 23 / BEP 7): 6 bytes for IPv4, 18 for IPv6, port big-endian. */
void btt_addr_from_compact4(const uint8_t p[6], btt_addr *out);
void btt_addr_from_compact6(const uint8_t p[18], btt_addr *out);
/* Writes 6 or 18 bytes; returns the count. */
size_t btt_addr_to_compact(const btt_addr *a, uint8_t *out);

#endif
