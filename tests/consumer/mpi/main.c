/* A downstream program of the MPI component (sparsetrain/mpi.h), built by
 * .ci/check-install.sh with find_package(sparsetrain COMPONENTS mpi) and
 * with pkg-config sparsetrain-mpi, run as one process (MPI's singleton
 * start): a communicator of one rank over MPI_COMM_WORLD. */
#include <stdio.h>

#include <sparsetrain.h>
#include <sparsetrain/mpi.h>

int main(void) {
    int launched = 0;
    spt_comm *c = NULL;
    if (spt_mpi_launched(&launched) != SPT_OK || spt_comm_create_mpi_world(&c) != SPT_OK) {
        fprintf(stderr, "consumer_mpi: %s\n", spt_last_error());
        return 1;
    }
    const int ok = spt_comm_rank(c) == 0 && spt_comm_size(c) == launched;
    spt_comm_destroy(c); /* MPI_Finalize */
    if (!ok) fprintf(stderr, "consumer_mpi: rank/size wrong\n");
    return ok ? 0 : 1;
}
