/** @file
 * The MPI engine of communicators (sparsetrain/comm.h): the optional
 * component `libsparsetrain_mpi`, built when CMake finds MPI
 * (`-DSPT_WITH_MPI=ON`, the default then). Link it with
 * `sparsetrain::sparsetrain_mpi` (CMake, `find_package(sparsetrain
 * COMPONENTS mpi)`) or `pkg-config --libs sparsetrain-mpi`.
 *
 * A typical data-parallel program (run with `mpirun -np N prog`):
 *
 *   spt_comm *comm;
 *   spt_comm_create_mpi_world(&comm);        // MPI_Init if not done yet
 *   ... build the model and trainer exactly as on one process ...
 *   spt_trainer_set_comm(tr, comm);
 *   spt_batcher_set_shard(batcher, spt_comm_rank(comm), spt_comm_size(comm));
 *   for (e = 0; e < epochs; e++) spt_trainer_train_epoch(tr, batcher, ...);
 *   if (spt_comm_rank(comm) == 0) spt_checkpoint_save(...);
 *   spt_trainer_destroy(tr);
 *   spt_comm_destroy(comm);                  // MPI_Finalize if it did MPI_Init
 *
 * The sums over the ranks are a ring all-reduce of its own (MPI_Sendrecv
 * between neighbours: each rank sends and receives 2 (p - 1) / p of the
 * buffer), whose order of additions depends only on the number of ranks,
 * and whose result every rank receives bit for bit: MPI_Allreduce of
 * floats promises neither. Small sums (n x p <= 65536 floats) gather every
 * rank's buffer and add them in rank order. Errors are returned, not fatal:
 * the communicator is a duplicate with MPI_ERRORS_RETURN.
 *
 * Threads: MPI is initialised with MPI_THREAD_FUNNELED; the library calls
 * MPI from the thread that calls the trainer.
 *
 * Loading: linking this library loads Open MPI into the process, and with
 * a small address-space limit (`ulimit -v` of a few hundred MB) Open MPI
 * 4.1's start-up retries failing 128 MB mappings forever. The example
 * programs therefore load it with dlopen() only when started by mpirun
 * (spt_mpi_launched()'s environment); a program that is not always run
 * under MPI may do the same.
 */
#ifndef SPARSETRAIN_MPI_H
#define SPARSETRAIN_MPI_H

#include <mpi.h>

#include "comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A communicator over the ranks of an MPI communicator (duplicated with
 * MPI_Comm_dup: the caller's own traffic on `comm` never mixes with the
 * library's). Collective over `comm`. MPI must be initialised.
 * @param comm an intra-communicator.
 * @param[out] out the new communicator (spt_comm_destroy() frees the
 *             duplicate); NULL on failure.
 * @return #SPT_OK; #SPT_ERR_NULL (out); #SPT_ERR_STATE (MPI not
 *         initialised, or finalised); #SPT_ERR_CALLBACK (an MPI call
 *         failed, its error string in the message); #SPT_ERR_NOMEM.
 * Threads: the thread that initialised MPI.
 */
SPT_API int spt_comm_create_mpi(MPI_Comm comm, spt_comm **out);

/**
 * A communicator over MPI_COMM_WORLD, initialising MPI first when nobody
 * has (MPI_Init_thread with MPI_THREAD_FUNNELED, no arguments). When this
 * call initialised MPI, destroying the last communicator it made calls
 * MPI_Finalize (after which MPI cannot be used again in the process).
 * Callable from Python's ctypes (no MPI type in its signature).
 * @param[out] out the new communicator; NULL on failure.
 * @return as spt_comm_create_mpi(); #SPT_ERR_STATE when MPI was finalised.
 * Threads: the main thread.
 */
SPT_API int spt_comm_create_mpi_world(spt_comm **out);

/**
 * Whether this process was started by an MPI launcher with more than one
 * process (mpirun -np N, N > 1), read from the launcher's environment
 * (Open MPI's OMPI_COMM_WORLD_SIZE, MPICH's PMI_SIZE)
 * without initialising MPI. Programs use it to decide whether to train
 * data-parallel.
 * @param[out] size the number of processes (1 when not launched so).
 * @return #SPT_OK or #SPT_ERR_NULL. Threads: any.
 */
SPT_API int spt_mpi_launched(int *size);

#ifdef __cplusplus
}
#endif

#endif
