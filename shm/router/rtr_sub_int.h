/* SPDX-License-Identifier: MIT */
/*
 * Internals of the subscription matcher shared by rtr_sub.c (routes, clients, reference counts)
 * and rtr_sub_trie.c (trie nodes and the match walk). Not for use outside those two files.
 */
#ifndef MM_RTR_SUB_INT_H
#define MM_RTR_SUB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtr_sub.h"

/* One level of the trie. The root has no parent and an empty level. */
struct rtr_node {
	struct rtr_node *parent;
	struct rtr_node **kids; /* literal levels, sorted by (len, bytes) */
	uint32_t nkids;
	uint32_t kids_cap;
	struct rtr_node *plus;	    /* the '+' child */
	struct rtr_node *hash;	    /* the '#' child (always a leaf) */
	struct rtr_filter *filters; /* filters that end here, chained by node_next */
	uint32_t len;
	char level[]; /* <len> bytes, not NUL-terminated */
};

/* Routes of one session on one filter, per QoS. */
struct rtr_scount {
	uint32_t session;
	uint32_t q[3];
};

/* A distinct filter string (what the worker subscribes to), with its routes and counts. */
struct rtr_filter {
	struct rtr_filter *next; /* mm_rtr_sub.filters */
	struct rtr_filter *prev;
	struct rtr_filter *node_next;
	struct rtr_node *node;
	struct rtr_route *routes;
	uint32_t all[3]; /* all-session routes per QoS */
	struct rtr_scount *sc;
	uint32_t nsc;
	uint32_t sc_cap;
	size_t group_off; /* the group of "$share/<group>/...", or 0 */
	size_t group_len;
	char full[]; /* as the client gave it, NUL-terminated */
};

struct rtr_route {
	struct rtr_route *fnext; /* routes of the same filter */
	struct rtr_route *cnext; /* routes of the same client */
	struct rtr_filter *f;
	struct rtr_client *c;
	uint32_t id;
	int32_t session;
	uint8_t qos;
	uint8_t on_full;
};

struct rtr_client {
	uint32_t id;
	uint32_t nroutes;
	struct rtr_route *routes;
	uint64_t gen; /* == mm_rtr_sub.gen: already in the current match */
	uint32_t slot;
	uint32_t off;
};

/* rtr_sub_trie.c */
struct rtr_node *mm_rtr_sub_node_new(const char *level, size_t len);
void mm_rtr_sub_node_free_all(struct rtr_node *n);
int mm_rtr_sub_node_get(struct rtr_node *root, const char *filter, struct rtr_node **ret_node);
void mm_rtr_sub_node_prune(struct rtr_node *n);
size_t mm_rtr_sub_walk(struct mm_rtr_sub *t, uint32_t session, const char *topic, size_t len);

#endif
