/*
 * Network descriptions (internal view of the public spt_net, net.h): the
 * nodes a user adds, the layer-kind table (names, the parameters each kind
 * reads with their defaults and domains, and how a node becomes a layer),
 * and the graph a model runs.
 *
 * A layer kind is added in one place: its constructor in its layer file
 * and one row of KINDS in net.c.
 */
#ifndef SPTI_NET_H
#define SPTI_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "layer.h"

enum { SPTI_NET_NAME = 40, SPTI_NET_MAX_NODES = 1 << 20, SPTI_NODE_MAX_INPUTS = 2 };

/* The input of a node that reads the network's input. */
enum { SPTI_NET_INPUT = -1 };

typedef struct spti_net_node {
    int kind;                  /* spt_layer_kind */
    char name[SPTI_NET_NAME];
    double p[SPT_LP_COUNT_];   /* parameters (the kind's defaults until set) */
    int64_t input;             /* the node it reads (the tip when added), SPTI_NET_INPUT for the network's */
} spti_net_node;

struct spt_net {
    spti_shape in;
    spti_net_node *nodes;
    int64_t n, cap;
    int64_t tip;
};
typedef struct spt_net spti_net;

/* Deep copy (the model keeps its own). */
int spti_net_clone(const spti_net *net, spti_net **out);

/* The inputs of node i: n_inputs() of them, into in[0..) (SPTI_NET_INPUT:
 * the network's input). An ADD node reads its input and SPT_LP_INPUT. */
int spti_net_inputs(const spti_net *net, int64_t i, int64_t in[SPTI_NODE_MAX_INPUTS]);

/* Node i's required parameters are set (out, the added input). */
int spti_net_check_node(const spti_net *net, int64_t i);

/* The layer of node i for inputs of shape `in` (in[0] is the first
 * input's; an ADD node checks that both agree). The layer's name is the
 * node's. */
int spti_net_build_layer(const spti_net *net, int64_t i, const spti_shape *in, spti_layer **out);

/* Parameters and values (sum of their sizes) the model of `net` has,
 * from the shapes alone, nothing built: SPT_ERR_SIZE / SPT_ERR_INVALID
 * naming the node that does not fit. */
int spti_net_size(const spti_net *net, int64_t *n_params, int64_t *values);
/* The same, and of those values the linear and convolution weights' (bias
 * excluded), the output elements of every node for one example
 * (spt_net_size) and of the last node (the network's output). Outputs may
 * be NULL. */
int spti_net_measure(const spti_net *net, int64_t *n_params, int64_t *values, int64_t *weights,
                     int64_t *activations, int64_t *outputs);
/* The same, and each node's first input shape into in_shapes (net->n
 * entries) when not NULL. */
int spti_net_measure_shapes(const spti_net *net, int64_t *n_params, int64_t *values, int64_t *weights,
                            int64_t *activations, int64_t *outputs, spti_shape *in_shapes);

/* Density requested for the weight of node i: -1 (the method's), 1 (dense)
 * or in (0, 1). */
double spti_net_density(const spti_net *net, int64_t i);

#endif
