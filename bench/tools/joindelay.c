// Reaction delays from a capture, for the reaction benchmark (bench/reaction.sh).
//   joindelay FILE.pcap [FILE.pcap...] > samples.csv
// Reads classic pcap files (micro- or nanosecond timestamps; link types Ethernet, Linux cooked v1/v2, raw IPv4),
// keeps the IPv4 TCP SYNs and SYN/ACKs that carry an MPTCP option (kind 30), and pairs each connection with its
// first additional subflow:
//   - a connection starts with a SYN carrying MP_CAPABLE (subtype 0); its first SYN (retransmissions ignored) is t0;
//   - the server's SYN/ACK carries MP_CAPABLE with the server's 64-bit key; the connection's token is the first
//     32 bits of SHA-256(key) (RFC 8684 section 3.2, as the kernel computes it);
//   - a join is a SYN carrying MP_JOIN (subtype 1), whose 32-bit token names the connection it joins; the earliest
//     join SYN per token is t1.
// One CSV row per connection, in the order of t0:
//   seq,client,sport,token,syn_ns,join_ns,delay_ms,join_src,in_window
// join_ns / delay_ms / join_src empty when no join was seen; in_window is 1 when the join comes after this
// connection's SYN and before the next connection's SYN (the benchmark opens connections one after the other).
// A summary line on stderr: connections, joins, joins whose token matched no connection, joins out of window.
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- SHA-256 (FIPS 180-4), enough for one short message ----
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

// SHA-256 of a message shorter than 56 bytes (one block); writes the 32-byte digest.
static void sha256_short(const uint8_t *msg, size_t len, uint8_t out[32])
{
    uint8_t block[64] = {0};
    memcpy(block, msg, len);
    block[len] = 0x80;
    uint64_t bits = (uint64_t) len * 8;
    for (int i = 0; i < 8; i++)
        block[63 - i] = (uint8_t) (bits >> (8 * i));
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t) block[4 * i] << 24 | (uint32_t) block[4 * i + 1] << 16 | (uint32_t) block[4 * i + 2] << 8 |
               block[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t) (h[i] >> (24 - 8 * j));
}

// ---- the packets we keep ----
enum kind { SYN_CAPABLE, SYNACK_CAPABLE, SYN_JOIN };
struct pkt {
    uint64_t ts_ns;
    enum kind kind;
    uint32_t src, dst; // network order
    uint16_t sport, dport; // host order
    uint32_t token; // SYNACK_CAPABLE: token of the key; SYN_JOIN: token carried
    int has_token;
};
static struct pkt *pkts;
static size_t npkts, cap;

static void keep(struct pkt p)
{
    if (npkts == cap) {
        cap = cap ? cap * 2 : 4096;
        pkts = realloc(pkts, cap * sizeof(*pkts));
        if (!pkts) {
            perror("joindelay");
            exit(1);
        }
    }
    pkts[npkts++] = p;
}

static uint32_t rd32(const uint8_t *p, int swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

static void tcp_packet(uint64_t ts, const uint8_t *ip, size_t len)
{
    if (len < 20 || (ip[0] >> 4) != 4)
        return;
    size_t ihl = (size_t) (ip[0] & 15) * 4;
    if (ip[9] != 6 || len < ihl + 20)
        return;
    const uint8_t *tcp = ip + ihl;
    size_t doff = (size_t) (tcp[12] >> 4) * 4;
    uint8_t flags = tcp[13];
    if (!(flags & 0x02) || doff < 20 || len < ihl + doff)
        return;
    struct pkt p = {.ts_ns = ts};
    memcpy(&p.src, ip + 12, 4);
    memcpy(&p.dst, ip + 16, 4);
    p.sport = (uint16_t) (tcp[0] << 8 | tcp[1]);
    p.dport = (uint16_t) (tcp[2] << 8 | tcp[3]);
    int ack = (flags & 0x10) != 0;
    const uint8_t *o = tcp + 20, *end = tcp + doff;
    while (o < end) {
        if (o[0] == 0)
            break;
        if (o[0] == 1) {
            o++;
            continue;
        }
        if (o + 1 >= end || o[1] < 2 || o + o[1] > end)
            break;
        if (o[0] == 30 && o[1] >= 3) {
            int subtype = o[2] >> 4;
            if (subtype == 0 && !ack) {
                p.kind = SYN_CAPABLE;
                keep(p);
            } else if (subtype == 0 && ack && o[1] >= 12) {
                uint8_t digest[32];
                sha256_short(o + 4, 8, digest);
                p.kind = SYNACK_CAPABLE;
                p.token = (uint32_t) digest[0] << 24 | (uint32_t) digest[1] << 16 | (uint32_t) digest[2] << 8 | digest[3];
                p.has_token = 1;
                keep(p);
            } else if (subtype == 1 && !ack && o[1] >= 12) {
                p.kind = SYN_JOIN;
                p.token = (uint32_t) o[4] << 24 | (uint32_t) o[5] << 16 | (uint32_t) o[6] << 8 | o[7];
                p.has_token = 1;
                keep(p);
            }
            return;
        }
        o += o[1];
    }
}

static int read_pcap(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t gh[24];
    if (fread(gh, 1, 24, f) != 24) {
        fprintf(stderr, "joindelay: %s: too short for a pcap file\n", path);
        fclose(f);
        return -1;
    }
    uint32_t magic;
    memcpy(&magic, gh, 4);
    int swap, nano;
    switch (magic) {
    case 0xa1b2c3d4: swap = 0; nano = 0; break;
    case 0xa1b23c4d: swap = 0; nano = 1; break;
    case 0xd4c3b2a1: swap = 1; nano = 0; break;
    case 0x4d3cb2a1: swap = 1; nano = 1; break;
    default:
        fprintf(stderr, "joindelay: %s: not a classic pcap file (magic %08x; pcapng is not read)\n", path, magic);
        fclose(f);
        return -1;
    }
    uint32_t linktype = rd32(gh + 20, swap) & 0x0fffffff;
    size_t l2;
    switch (linktype) {
    case 1: l2 = 14; break; // Ethernet
    case 113: l2 = 16; break; // Linux cooked v1 (tcpdump -i any)
    case 276: l2 = 20; break; // Linux cooked v2
    case 101: case 228: l2 = 0; break; // raw IP / raw IPv4
    default:
        fprintf(stderr, "joindelay: %s: link type %u not handled\n", path, linktype);
        fclose(f);
        return -1;
    }
    static uint8_t buf[262144];
    uint8_t rh[16];
    while (fread(rh, 1, 16, f) == 16) {
        uint64_t sec = rd32(rh, swap), frac = rd32(rh + 4, swap);
        uint32_t incl = rd32(rh + 8, swap);
        if (incl > sizeof(buf) || fread(buf, 1, incl, f) != incl)
            break;
        uint64_t ts = sec * 1000000000ull + (nano ? frac : frac * 1000);
        if (incl <= l2)
            continue;
        const uint8_t *ip = buf + l2;
        size_t len = incl - l2;
        if (linktype == 1) { // skip one VLAN tag if any; keep only IPv4
            uint16_t et = (uint16_t) (buf[12] << 8 | buf[13]);
            if (et == 0x8100 && incl > 18) {
                ip += 4;
                len -= 4;
                et = (uint16_t) (buf[16] << 8 | buf[17]);
            }
            if (et != 0x0800)
                continue;
        } else if (linktype == 113) {
            if ((buf[14] << 8 | buf[15]) != 0x0800)
                continue;
        } else if (linktype == 276) {
            if ((buf[0] << 8 | buf[1]) != 0x0800)
                continue;
        }
        tcp_packet(ts, ip, len);
    }
    fclose(f);
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const struct pkt *x = a, *y = b;
    return x->ts_ns < y->ts_ns ? -1 : x->ts_ns > y->ts_ns;
}

struct conn {
    uint64_t syn_ns, join_ns;
    uint32_t client, server, token, join_src;
    uint16_t sport, dport;
    int has_token, has_join;
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE.pcap [FILE.pcap...] > samples.csv\n", argv[0]);
        return 2;
    }
    // Self-check: SHA-256("abc") starts with ba7816bf.
    uint8_t d[32];
    sha256_short((const uint8_t *) "abc", 3, d);
    if (d[0] != 0xba || d[1] != 0x78 || d[2] != 0x16 || d[3] != 0xbf) {
        fprintf(stderr, "joindelay: SHA-256 self-check failed\n");
        return 1;
    }
    for (int i = 1; i < argc; i++)
        if (read_pcap(argv[i]) != 0)
            return 1;
    qsort(pkts, npkts, sizeof(*pkts), by_time);

    struct conn *c = calloc(npkts + 1, sizeof(*c));
    size_t nc = 0;
    for (size_t i = 0; i < npkts; i++) {
        struct pkt *p = &pkts[i];
        if (p->kind != SYN_CAPABLE)
            continue;
        int seen = 0; // a retransmitted SYN of a connection we already have
        for (size_t j = nc; j-- > 0 && !seen;)
            if (c[j].client == p->src && c[j].sport == p->sport && c[j].server == p->dst && c[j].dport == p->dport)
                seen = 1;
        if (!seen)
            c[nc++] = (struct conn) {.syn_ns = p->ts_ns, .client = p->src, .server = p->dst, .sport = p->sport, .dport = p->dport};
    }
    for (size_t i = 0; i < npkts; i++) { // SYN/ACK: the server's key, hence the connection's token
        struct pkt *p = &pkts[i];
        if (p->kind != SYNACK_CAPABLE)
            continue;
        for (size_t j = nc; j-- > 0;)
            if (c[j].client == p->dst && c[j].sport == p->dport && c[j].server == p->src && c[j].dport == p->sport) {
                if (!c[j].has_token) {
                    c[j].token = p->token;
                    c[j].has_token = 1;
                }
                break;
            }
    }
    size_t joins = 0, unmatched = 0, out_of_window = 0, no_token = 0;
    for (size_t i = 0; i < npkts; i++) {
        struct pkt *p = &pkts[i];
        if (p->kind != SYN_JOIN)
            continue;
        int matched = 0;
        for (size_t j = nc; j-- > 0;)
            if (c[j].has_token && c[j].token == p->token) {
                matched = 1;
                if (!c[j].has_join) { // the first join SYN of this connection (time order)
                    c[j].has_join = 1;
                    c[j].join_ns = p->ts_ns;
                    c[j].join_src = p->src;
                }
                break;
            }
        if (!matched)
            unmatched++;
    }
    printf("seq,client,sport,token,syn_ns,join_ns,delay_ms,join_src,in_window\n");
    for (size_t j = 0; j < nc; j++) {
        char cli[INET_ADDRSTRLEN], js[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &c[j].client, cli, sizeof(cli));
        if (!c[j].has_token)
            no_token++;
        if (!c[j].has_join) {
            printf("%zu,%s,%u,%s%08x,%llu,,,,\n", j, cli, c[j].sport, c[j].has_token ? "" : "?", c[j].token,
                   (unsigned long long) c[j].syn_ns);
            continue;
        }
        joins++;
        inet_ntop(AF_INET, &c[j].join_src, js, sizeof(js));
        int in_window = c[j].join_ns >= c[j].syn_ns && (j + 1 == nc || c[j].join_ns < c[j + 1].syn_ns);
        if (!in_window)
            out_of_window++;
        printf("%zu,%s,%u,%08x,%llu,%llu,%.6f,%s,%d\n", j, cli, c[j].sport, c[j].token, (unsigned long long) c[j].syn_ns,
               (unsigned long long) c[j].join_ns, (double) (c[j].join_ns - c[j].syn_ns) / 1e6, js, in_window);
    }
    fprintf(stderr, "joindelay: connections=%zu joins=%zu unmatched_joins=%zu out_of_window=%zu no_token=%zu\n", nc, joins,
            unmatched, out_of_window, no_token);
    return 0;
}
