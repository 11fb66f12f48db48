/* An attacker's tool for tests/network.rs: one UDP datagram in a raw
 * Ethernet frame (AF_PACKET, CAP_NET_RAW: in Docker's default set), so the
 * destination address is whatever we write, 127.0.0.1 included, and the
 * container's own routing never sees it.
 *   raw_udp IFNAME DST_MAC SRC_IP DST_IP PORT */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned short csum(const void *p, int n) {
    const unsigned short *w = p;
    unsigned long s = 0;
    for (; n > 1; n -= 2) s += *w++;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (unsigned short)~s;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: raw_udp IFNAME DST_MAC SRC_IP DST_IP PORT\n"); return 2; }
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
    if (fd < 0) { perror("socket"); return 1; }
    struct ifreq ifr = {0};
    strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) { perror("SIOCGIFHWADDR"); return 1; }
    unsigned char frame[128] = {0};
    struct ether_header *eth = (void *)frame;
    unsigned int m[6];
    if (sscanf(argv[2], "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) return 2;
    for (int i = 0; i < 6; i++) eth->ether_dhost[i] = (unsigned char)m[i];
    memcpy(eth->ether_shost, ifr.ifr_hwaddr.sa_data, 6);
    eth->ether_type = htons(ETH_P_IP);
    struct iphdr *ip = (void *)(frame + sizeof *eth);
    const char payload[] = "leak";
    int ulen = sizeof(struct udphdr) + sizeof payload - 1;
    ip->version = 4; ip->ihl = 5; ip->ttl = 64; ip->protocol = IPPROTO_UDP;
    ip->tot_len = htons(sizeof *ip + ulen);
    ip->saddr = inet_addr(argv[3]); ip->daddr = inet_addr(argv[4]);
    ip->check = csum(ip, sizeof *ip);
    struct udphdr *udp = (void *)(ip + 1);
    udp->source = htons(40000); udp->dest = htons(atoi(argv[5])); udp->len = htons(ulen);
    memcpy(udp + 1, payload, sizeof payload - 1);
    struct sockaddr_ll to = {0};
    to.sll_family = AF_PACKET; to.sll_ifindex = if_nametoindex(argv[1]); to.sll_halen = 6;
    memcpy(to.sll_addr, eth->ether_dhost, 6);
    int len = sizeof *eth + sizeof *ip + ulen;
    for (int i = 0; i < 3; i++)
        if (sendto(fd, frame, len, 0, (void *)&to, sizeof to) != len) { perror("sendto"); return 1; }
    return 0;
}
