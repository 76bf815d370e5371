"""Loading libsparsetrain and declaring every C function for ctypes.

Every exported ``spt_`` function gets its ``argtypes`` and ``restype`` here,
so no call ever goes through ctypes' default int conversions. Handles are
pointers to distinct opaque structures: passing a model where a dataset is
expected fails in ctypes (``ctypes.ArgumentError``) before reaching C.

The library is found, in this order (the first that loads):

1. the path in the environment variable ``SPT_LIBRARY`` (then the only one
   tried: a wrong path is an error);
2. ``libsparsetrain.so*`` next to this file (a copy inside the package);
3. the directory recorded when the package was installed with pip
   (``_installed.py``, written by setup.py: ``$SPT_LIBDIR`` or pkg-config's
   ``libdir`` of sparsetrain at installation);
4. the system's search path (``ctypes.util.find_library("sparsetrain")``,
   then ``libsparsetrain.so.0``);
5. ``pkg-config --variable=libdir sparsetrain`` now: a library installed
   (``cmake --install``) under a prefix pkg-config searches, such as
   /usr/local, after the package, or without ``ldconfig`` having run.
"""
import ctypes
import ctypes.util
import glob
import os
import shutil
import subprocess
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_float, c_int, c_int32, c_int64, c_size_t,
                    c_uint8, c_uint64, c_void_p)


def _opaque(name):
    """A pointer type to a distinct opaque C structure."""
    return POINTER(type(name, (Structure,), {}))


TensorP = _opaque("spt_tensor")
MaskedP = _opaque("spt_masked")
CsrP = _opaque("spt_csr")
DatasetP = _opaque("spt_dataset")
BatcherP = _opaque("spt_batcher")
ModelP = _opaque("spt_model")
OptimizerP = _opaque("spt_optimizer")
ScheduleP = _opaque("spt_lr_schedule")
MethodConfigP = _opaque("spt_method_config")
TrainerP = _opaque("spt_trainer")
UserMethodP = _opaque("spt_user_method")
NetP = _opaque("spt_net")
CommP = _opaque("spt_comm")

#: int (*)(void *user, int64_t step, int64_t batch_index, int64_t batches, double loss, double accuracy)
PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_int64, c_int64, c_int64, c_double, c_double)
#: int (*)(void *user, int64_t layer, int64_t step, int64_t rows, int64_t cols, int64_t nnz,
#:        const int64_t *row_ptr, const int32_t *col_idx, const float *values, uint64_t seed, float *score)
DROP_SCORE_FN = CFUNCTYPE(c_int, c_void_p, c_int64, c_int64, c_int64, c_int64, c_int64, POINTER(c_int64),
                          POINTER(c_int32), POINTER(c_float), c_uint64, POINTER(c_float))
#: int (*)(void *user, int64_t layer, int64_t step, int64_t rows, int64_t cols, int64_t nnz, const int64_t *row_ptr,
#:        const int32_t *col_idx, const float *values, const float *dense_grad, uint64_t seed, float *score)
GROW_SCORE_FN = CFUNCTYPE(c_int, c_void_p, c_int64, c_int64, c_int64, c_int64, c_int64, POINTER(c_int64),
                          POINTER(c_int32), POINTER(c_float), POINTER(c_float), c_uint64, POINTER(c_float))
#: void *(*)(size_t size, void *user)
ALLOC_FN = CFUNCTYPE(c_void_p, c_size_t, c_void_p)
#: void (*)(void *ptr, void *user)
FREE_FN = CFUNCTYPE(None, c_void_p, c_void_p)

#: the collectives of sparsetrain/comm.h's spt_comm_ops
COMM_SUM_F32_FN = CFUNCTYPE(c_int, c_void_p, POINTER(c_float), c_int64)
COMM_REDUCE_U64_FN = CFUNCTYPE(c_int, c_void_p, POINTER(c_uint64), c_int64, c_int)
COMM_BCAST_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_int64, c_int)
COMM_DESTROY_FN = CFUNCTYPE(None, c_void_p)


class CommOps(Structure):
    """struct spt_comm_ops (sparsetrain/comm.h)."""
    _fields_ = [("allreduce_f32", COMM_SUM_F32_FN), ("allreduce_u64", COMM_REDUCE_U64_FN),
                ("broadcast", COMM_BCAST_FN), ("destroy", COMM_DESTROY_FN)]


class CommStats(Structure):
    """struct spt_comm_stats (sparsetrain/comm.h)."""
    _fields_ = [("calls", c_int64), ("f32_bytes", c_int64), ("u64_bytes", c_int64), ("bcast_bytes", c_int64)]


_i = c_int
_i64 = c_int64
_u64 = c_uint64
_d = c_double
_s = c_char_p
_fp = POINTER(c_float)
_i32p = POINTER(c_int32)
_i64p = POINTER(c_int64)
_u64p = POINTER(c_uint64)
_u8p = POINTER(c_uint8)
_dp = POINTER(c_double)
_ip = POINTER(c_int)
_sp = POINTER(c_char_p)


def _out(handle_type):
    return POINTER(handle_type)


# name: (restype, [argtypes]), header by header, in the headers' order.
DECLARATIONS = {
    # ---- core.h
    "spt_status_string": (_s, [_i]),
    "spt_last_error": (_s, []),
    "spt_clear_error": (None, []),
    "spt_set_error": (_i, [_i, _s]),
    "spt_version_string": (_s, []),
    "spt_version_number": (_i, []),
    "spt_set_num_threads": (_i, [_i]),
    "spt_get_num_threads": (_i, []),
    "spt_simd_name": (_s, []),
    "spt_set_simd_level": (_i, [_i]),
    "spt_set_allocator": (_i, [ALLOC_FN, FREE_FN, c_void_p]),
    # ---- tensor.h: dense tensors
    "spt_tensor_create": (_i, [_i, _i64p, _out(TensorP)]),
    "spt_tensor_destroy": (None, [TensorP]),
    "spt_tensor_ndim": (_i, [TensorP]),
    "spt_tensor_dim": (_i64, [TensorP, _i]),
    "spt_tensor_numel": (_i64, [TensorP]),
    "spt_tensor_data": (_fp, [TensorP]),
    "spt_tensor_copy_from": (_i, [TensorP, _fp, _i64]),
    "spt_tensor_copy_to": (_i, [TensorP, _fp, _i64]),
    # ---- tensor.h: masked matrices
    "spt_masked_create": (_i, [_i64, _i64, _fp, _u8p, _out(MaskedP)]),
    "spt_masked_destroy": (None, [MaskedP]),
    "spt_masked_rows": (_i64, [MaskedP]),
    "spt_masked_cols": (_i64, [MaskedP]),
    "spt_masked_nnz": (_i64, [MaskedP]),
    "spt_masked_values": (_fp, [MaskedP]),
    "spt_masked_mask": (_u8p, [MaskedP]),
    "spt_masked_to_dense": (_i, [MaskedP, _fp, _i64]),
    # ---- tensor.h: CSR matrices
    "spt_csr_check": (_i, [_i64, _i64, _i64, _i64p, _i32p]),
    "spt_csr_create": (_i, [_i64, _i64, _i64, _i64p, _i32p, _fp, _out(CsrP)]),
    "spt_csr_from_dense": (_i, [_i64, _i64, _fp, _out(CsrP)]),
    "spt_csr_from_masked": (_i, [MaskedP, _out(CsrP)]),
    "spt_csr_random": (_i, [_i64, _i64, _d, c_float, _u64, _out(CsrP)]),
    "spt_csr_destroy": (None, [CsrP]),
    "spt_csr_to_dense": (_i, [CsrP, _fp, _i64]),
    "spt_csr_to_masked": (_i, [CsrP, _out(MaskedP)]),
    "spt_csr_rows": (_i64, [CsrP]),
    "spt_csr_cols": (_i64, [CsrP]),
    "spt_csr_nnz": (_i64, [CsrP]),
    "spt_csr_density": (_d, [CsrP]),
    "spt_csr_row_ptr": (_i64p, [CsrP]),
    "spt_csr_col_idx": (_i32p, [CsrP]),
    "spt_csr_values": (_fp, [CsrP]),
    "spt_csr_copy_out": (_i, [CsrP, _i64p, _i64, _i32p, _fp, _i64]),
    "spt_csr_set_shape4": (_i, [CsrP, _i64, _i64, _i64, _i64]),
    "spt_csr_ndim": (_i, [CsrP]),
    "spt_csr_dim": (_i64, [CsrP, _i]),
    # ---- ops.h
    "spt_csr_spmm": (_i, [CsrP, _fp, _i64, _i64, _fp, _fp, _i64]),
    "spt_csr_spmm_t": (_i, [CsrP, _fp, _i64, _i64, _fp, _i64, _i]),
    "spt_csr_sddmm": (_i, [CsrP, _fp, _i64, _fp, _i64, _i64, _fp, _i64, _i]),
    "spt_topk": (_i, [_fp, _i64, _i64, _u64, _i64p]),
    "spt_bottomk": (_i, [_fp, _i64, _i64, _u64, _i64p]),
    "spt_set_dispatch_mode": (_i, [_i]),
    "spt_get_dispatch_mode": (_i, []),
    "spt_set_dispatch_threshold": (_i, [_d]),
    "spt_get_dispatch_threshold": (_d, []),
    # ---- data.h
    "spt_dataset_load_cifar10": (_i, [_s, _i, _i64, _out(DatasetP)]),
    "spt_dataset_load_cifar10_files": (_i, [_sp, _i, _i64, _out(DatasetP)]),
    "spt_dataset_load_idx": (_i, [_s, _s, _i64, _out(DatasetP)]),
    "spt_dataset_load_mnist": (_i, [_s, _i, _i64, _out(DatasetP)]),
    "spt_dataset_from_float": (_i, [_fp, _i32p, _i64, _i64, _i64, _i64, _i64, _out(DatasetP)]),
    "spt_dataset_from_u8": (_i, [_u8p, _i32p, _i64, _i64, _i64, _i64, _i64, _out(DatasetP)]),
    "spt_dataset_destroy": (None, [DatasetP]),
    "spt_dataset_info": (_i, [DatasetP, _i64p, _i64p, _i64p, _i64p, _i64p]),
    "spt_dataset_gather": (_i, [DatasetP, _i64p, _i64, _fp, _i64, _i32p]),
    "spt_dataset_labels": (_i, [DatasetP, _i32p, _i64]),
    "spt_dataset_compute_mean_std": (_i, [DatasetP, _fp, _fp, _i64]),
    "spt_dataset_set_normalization": (_i, [DatasetP, _fp, _fp, _i64]),
    "spt_dataset_get_normalization": (_i, [DatasetP, _fp, _fp, _i64]),
    "spt_dataset_subset": (_i, [DatasetP, _i64, _i64, _out(DatasetP)]),
    "spt_dataset_split_random": (_i, [DatasetP, _i64, _u64, _out(DatasetP), _out(DatasetP)]),
    "spt_batcher_create": (_i, [DatasetP, _i64, _i, _u64, _out(BatcherP)]),
    "spt_batcher_destroy": (None, [BatcherP]),
    "spt_batcher_set_augment": (_i, [BatcherP, _i64, _i]),
    "spt_batcher_set_shard": (_i, [BatcherP, _i, _i]),
    "spt_batcher_next": (_i, [BatcherP, _fp, _i64, _i32p, _i64, _i64p]),
    "spt_batcher_batches_per_epoch": (_i, [BatcherP, _i64p]),
    "spt_batcher_get_state": (_i, [BatcherP, _i64p, _i64p, _u64p]),
    "spt_batcher_set_state": (_i, [BatcherP, _i64, _i64, _u64]),
    # ---- model.h
    "spt_model_create_mlp": (_i, [_i64p, _i, _u64, _out(ModelP)]),
    "spt_model_create_resnet": (_i, [_i64, _i64, _i64, _i64, _i64, _i64, _u64, _out(ModelP)]),
    "spt_model_destroy": (None, [ModelP]),
    "spt_model_forward": (_i, [ModelP, _fp, _i64, _fp]),
    "spt_model_predict": (_i, [ModelP, _fp, _i64, _i32p]),
    "spt_model_evaluate": (_i, [ModelP, _fp, _i32p, _i64, _dp, _i64p]),
    "spt_layout_nchw_to_chwn": (_i, [_fp, _i64, _i64, _i64, _i64, _fp]),
    "spt_layout_chwn_to_nchw": (_i, [_fp, _i64, _i64, _i64, _i64, _fp]),
    "spt_model_input_shape": (_i, [ModelP, _i64p, _i64p, _i64p]),
    "spt_model_num_classes": (_i, [ModelP, _i64p]),
    "spt_model_num_layers": (_i, [ModelP, _i64p]),
    "spt_model_layer_info": (_i, [ModelP, _i64, _sp, _sp]),
    "spt_model_layer_weight": (_i, [ModelP, _i64, _i64p, _i64p, _i64p, _dp]),
    "spt_model_layer_weight_csr": (_i, [ModelP, _i64, _i64p, _i64, _i32p, _fp, _i64]),
    "spt_model_layer_weight_dense": (_i, [ModelP, _i64, _fp, _i64]),
    "spt_model_num_params": (_i, [ModelP, _i64p, _i64p]),
    "spt_model_flops": (_i, [ModelP, _i, _dp]),
    "spt_model_set_dropout": (_i, [ModelP, _d]),
    # ---- optim.h
    "spt_optimizer_create": (_i, [_i, _out(OptimizerP)]),
    "spt_optimizer_destroy": (None, [OptimizerP]),
    "spt_optimizer_set_param": (_i, [OptimizerP, _i, _d]),
    "spt_optimizer_get_param": (_i, [OptimizerP, _i, _dp]),
    "spt_optimizer_get_kind": (_i, [OptimizerP, _ip]),
    "spt_optimizer_get_step": (_i, [OptimizerP, _i64p]),
    "spt_optimizer_state_bytes": (_i64, []),
    "spt_optimizer_save_state": (_i, [OptimizerP, c_void_p, _i64, _i64p]),
    "spt_optimizer_load_state": (_i, [OptimizerP, c_void_p, _i64]),
    "spt_lr_schedule_create": (_i, [_i, _out(ScheduleP)]),
    "spt_lr_schedule_destroy": (None, [ScheduleP]),
    "spt_lr_schedule_set_param": (_i, [ScheduleP, _i, _d]),
    "spt_lr_schedule_get_param": (_i, [ScheduleP, _i, _dp]),
    "spt_lr_schedule_get_kind": (_i, [ScheduleP, _ip]),
    "spt_lr_schedule_set_milestones": (_i, [ScheduleP, _i64p, _i64]),
    "spt_lr_schedule_get_milestones": (_i, [ScheduleP, _i64p, _i64, _i64p]),
    "spt_lr_schedule_at": (_i, [ScheduleP, _i64, _dp]),
    # ---- sparsity.h
    "spt_sparsity_allocate": (_i, [_i, _d, _i64, _i32p, _i64p, _u8p, _dp, _i64p, _dp]),
    "spt_sparsity_allocate_custom": (_i, [_i64, _i32p, _i64p, _dp, _i64p, _dp]),
    "spt_sparsity_allocate_epsilon": (_i, [_i, _d, _i64, _i32p, _i64p, _u8p, _dp, _i64p, _dp]),
    "spt_drop_fraction": (_i, [_i, _d, _i64, _i64, _dp]),
    "spt_drop_is_update_step": (_i, [_i64, _i64, _i64, _ip]),
    "spt_gmp_sparsity": (_i, [_d, _d, _i64, _i64, _i64, _i64, _dp]),
    "spt_gmp_is_prune_step": (_i, [_i64, _i64, _i64, _i64, _ip]),
    "spt_lottery_sparsity": (_i, [_d, _i64, _dp]),
    "spt_flops_forward": (_i, [_i64, _i32p, _i64p, _i64p, _i64p, _dp]),
    "spt_flops_train": (_i, [_i, _d, _d, _i64, _dp]),
    "spt_flops_train_schedule": (_i, [_i64, _i32p, _i64p, _i64p, _i64, _dp, _dp]),
    "spt_flops_train_gmp": (_i, [_i64, _i32p, _i64p, _i64p, _dp, _dp, _i64, _i64, _i64, _i64, _dp]),
    # ---- method.h
    "spt_method_config_create": (_i, [_i, _out(MethodConfigP)]),
    "spt_method_config_destroy": (None, [MethodConfigP]),
    "spt_method_config_set": (_i, [MethodConfigP, _i, _d]),
    "spt_method_config_get": (_i, [MethodConfigP, _i, _dp]),
    "spt_method_config_method": (_i, [MethodConfigP, _ip]),
    "spt_method_config_set_densities": (_i, [MethodConfigP, _dp, _i64]),
    "spt_method_count": (_i, []),
    "spt_method_summary": (_s, [_i]),
    "spt_method_is_user": (_i, [_i, _ip]),
    "spt_method_name": (_s, [_i]),
    "spt_method_from_name": (_i, [_s, _ip]),
    "spt_method_param_count": (_i, []),
    "spt_method_param_name": (_s, [_i]),
    "spt_method_param_from_name": (_i, [_s, _ip]),
    "spt_method_param_doc": (_s, [_i]),
    "spt_method_param_type": (_i, [_i, _ip]),
    "spt_method_param_bounds": (_i, [_i, _dp, _dp, _ip]),
    "spt_method_param_default": (_i, [_i, _i, _dp]),
    "spt_method_uses_param": (_i, [_i, _i, _ip]),
    "spt_method_param_choice_name": (_s, [_i, _i]),
    "spt_method_param_choice_from_name": (_i, [_i, _s, _ip]),
    "spt_method_supports_structure": (_i, [_i, _i, _ip]),
    "spt_method_config_rounds": (_i, [MethodConfigP, _i64p]),
    # ---- train.h
    "spt_trainer_create": (_i, [ModelP, OptimizerP, ScheduleP, MethodConfigP, _i64, _u64, _out(TrainerP)]),
    "spt_trainer_destroy": (None, [TrainerP]),
    "spt_trainer_prepare": (_i, [TrainerP, BatcherP]),
    "spt_trainer_step": (_i, [TrainerP, _fp, _i32p, _i64, _dp, _i64p]),
    "spt_trainer_train_epoch": (_i, [TrainerP, BatcherP, PROGRESS_FN, c_void_p, _dp, _dp]),
    "spt_trainer_evaluate": (_i, [TrainerP, DatasetP, _i64, _dp, _dp]),
    "spt_trainer_end_round": (_i, [TrainerP]),
    "spt_trainer_get_step": (_i, [TrainerP, _i64p]),
    "spt_trainer_get_round": (_i, [TrainerP, _i64p]),
    "spt_trainer_get_lr": (_i, [TrainerP, _dp]),
    "spt_trainer_sparsity": (_i, [TrainerP, _dp, _i64p, _i64p]),
    "spt_trainer_num_weight_layers": (_i, [TrainerP, _i64p]),
    "spt_trainer_layer_density": (_i, [TrainerP, _i64, _sp, _i64p, _i64p, _dp]),
    "spt_trainer_flops": (_i, [TrainerP, _dp, _dp, _dp, _dp]),
    "spt_trainer_times": (_i, [TrainerP, _dp, _dp]),
    "spt_trainer_session_times": (_i, [TrainerP, _dp, _dp, _dp, _dp]),
    "spt_trainer_update_times": (_i, [TrainerP, _dp, _i64p, _i64p]),
    "spt_trainer_last_update": (_i, [TrainerP, _ip, _i64p]),
    # ---- checkpoint.h
    "spt_trainer_save": (_i, [TrainerP, BatcherP, _s]),
    "spt_trainer_load": (_i, [_s, _out(ModelP), _out(TrainerP), BatcherP]),
    "spt_trainer_save_note": (_i, [TrainerP, BatcherP, c_void_p, _i64, _s]),
    "spt_checkpoint_read_note": (_i, [_s, c_void_p, _i64, _i64p]),
    # ---- net.h
    "spt_net_create": (_i, [_i64, _i64, _i64, _out(NetP)]),
    "spt_net_destroy": (None, [NetP]),
    "spt_net_add_layer": (_i, [NetP, _i, _s, _i64p]),
    "spt_net_set": (_i, [NetP, _i64, _i, _d]),
    "spt_net_get": (_i, [NetP, _i64, _i, _dp]),
    "spt_net_tip": (_i, [NetP, _i64p]),
    "spt_net_set_tip": (_i, [NetP, _i64]),
    "spt_net_num_nodes": (_i, [NetP, _i64p]),
    "spt_net_node": (_i, [NetP, _i64, _ip, _sp, _i64p]),
    "spt_model_create": (_i, [NetP, _u64, _out(ModelP)]),
    "spt_model_net": (_i, [ModelP, _out(NetP)]),
    "spt_net_create_mlp": (_i, [_i64p, _i, _out(NetP)]),
    "spt_net_create_resnet": (_i, [_i64, _i64, _i64, _i64, _i64, _i64, _out(NetP)]),
    "spt_net_size": (_i, [NetP, _i64p, _i64p, _i64p, _i64p]),
    "spt_net_weights": (_i, [NetP, _i64, _i32p, _i64p, _dp, _i64p]),
    "spt_net_shapes": (_i, [NetP, _i64p, _i64p, _i64p, _i64p]),
    "spt_layer_kind_name": (_s, [_i]),
    "spt_layer_kind_from_name": (_i, [_s, _ip]),
    "spt_layer_param_name": (_s, [_i]),
    "spt_layer_param_from_name": (_i, [_s, _ip]),
    "spt_layer_param_default": (_i, [_i, _i, _ip, _dp]),
    # ---- net_file.h
    "spt_net_parse": (_i, [_s, _i64, _out(NetP)]),
    "spt_net_read": (_i, [_s, _out(NetP)]),
    "spt_net_format": (_i, [NetP, c_void_p, _i64, _i64p]),
    "spt_net_write": (_i, [NetP, _s]),
    # ---- safetensors.h
    "spt_model_save_safetensors": (_i, [ModelP, _s, _i]),
    "spt_model_load_safetensors": (_i, [ModelP, _s]),
    "spt_safetensors_read_net": (_i, [_s, _out(NetP)]),
    # ---- comm.h (sparsetrain.comm; the MPI engine is libsparsetrain_mpi, loaded there)
    "spt_comm_create": (_i, [POINTER(CommOps), c_void_p, _i, _i, _out(CommP)]),
    "spt_comm_destroy": (None, [CommP]),
    "spt_comm_get_stats": (_i, [CommP, POINTER(CommStats)]),
    "spt_comm_rank": (_i, [CommP]),
    "spt_comm_size": (_i, [CommP]),
    "spt_comm_reset_stats": (None, [CommP]),
    "spt_trainer_set_comm": (_i, [TrainerP, CommP]),
    "spt_trainer_set_sync_batchnorm": (_i, [TrainerP, _i]),
    "spt_trainer_get_comm": (_i, [TrainerP, _out(CommP)]),
    # ---- user_method.h
    "spt_user_method_create": (_i, [_s, _out(UserMethodP)]),
    "spt_user_method_destroy": (None, [UserMethodP]),
    "spt_user_method_set_drop": (_i, [UserMethodP, DROP_SCORE_FN, c_void_p]),
    "spt_user_method_set_grow": (_i, [UserMethodP, _i, GROW_SCORE_FN, c_void_p]),
    "spt_user_method_set_update": (_i, [UserMethodP, _i]),
    "spt_method_config_create_user": (_i, [UserMethodP, _out(MethodConfigP)]),
    "spt_trainer_load_user": (_i, [_s, UserMethodP, _out(ModelP), _out(TrainerP), BatcherP]),
}


#: the shared library's SONAME (SOVERSION: the major version)
SONAME = "libsparsetrain.so.0"


def _installed_libdir():
    """The directory setup.py recorded at installation, or None."""
    try:
        from ._installed import LIBDIR
    except ImportError:  # not installed by pip (a source tree on PYTHONPATH)
        return None
    return LIBDIR


def _pkg_config_libdir():
    pkg_config = shutil.which("pkg-config")
    if pkg_config is None:
        return None
    try:
        out = subprocess.run([pkg_config, "--variable=libdir", "sparsetrain"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    libdir = out.stdout.strip()
    return libdir if out.returncode == 0 and libdir else None


def _candidates():
    """The paths or names to try, in order (generated lazily: pkg-config runs
    only when everything before it failed)."""
    env = os.environ.get("SPT_LIBRARY")
    if env:
        # An explicit choice is the only one tried: a wrong path is an error.
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield from sorted(glob.glob(os.path.join(here, "libsparsetrain.so*")), key=len)
    libdir = _installed_libdir()
    if libdir:
        yield os.path.join(libdir, SONAME)
    system = ctypes.util.find_library("sparsetrain")
    if system:
        yield system
    yield SONAME
    libdir = _pkg_config_libdir()
    if libdir:
        yield os.path.join(libdir, SONAME)


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append("%s: %s" % (path, e))
    raise ImportError("sparsetrain: cannot load libsparsetrain (install it with cmake --install, or set "
                      "SPT_LIBRARY to its path; python/README.md, \"Installing\"); tried:\n  " + "\n  ".join(errors))


def _declare(cdll):
    declared = set()
    for name, (restype, argtypes) in DECLARATIONS.items():
        fn = getattr(cdll, name, None)
        if fn is None:
            continue  # an older library without this function: its wrapper raises UnsupportedError
        fn.restype = restype
        fn.argtypes = argtypes
        declared.add(name)
    return declared


lib, path = _load()
#: the names of DECLARATIONS this library exports (and that were declared)
declared = _declare(lib)


def has(name):
    """Whether the loaded library exports (and the binding declared) ``name``."""
    return name in declared

