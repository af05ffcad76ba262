"""tf.distribute for the stages' custom steps (`config.distribute`): one host's devices, or
several hosts' (`multi_worker`).

A step runs in two halves (`replicated_update`): each replica computes its share of the global
batch's loss and the gradients of that share (`Strategy.run`); the shares are summed in the
cross-replica context, where the non-finite guard decides once and the optimisers apply the one
global gradient on every replica. Losses divide by global counts (`global_sum`), so the shares add
up to the loss one device computes on the whole batch, and batch norm built under a strategy of
several replicas takes its statistics over the global batch (`batch_normalization`). Under
the default strategy (one device) every function here reduces to the plain single-device step.
"""

import functools
import json
import os
import threading
from typing import Callable, Sequence

import keras
import tensorflow as tf
from absl import logging

# The modes that run under a strategy of several replicas (see the README); the others refuse it.
DISTRIBUTED_MODES = ("data", "train_captioner", "eval", "export", "train_lm", "train_encoder",
                     "train_gan", "all", "joint", "dry_run")
_GATHERABLE = (tf.float16, tf.float32, tf.float64, tf.int32, tf.int64)  # what collectives take
WORKERS = "workers"  # WORKDIR/workers/<index>: a multi-worker run's other workers (worker_workdir)


def split_cpu(logical_devices: int) -> None:
    """Splits the CPU into `logical_devices` logical devices (0 leaves it whole), so that the
    mirrored strategy can be tried and tested on one CPU. TensorFlow must not have initialised
    its devices yet: call this before any op runs."""
    if logical_devices:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * logical_devices)


def build_strategy(cfg) -> tf.distribute.Strategy:
    """The strategy `cfg` (`config.distribute`) names: `default` (one device), `mirrored` over
    this host's GPUs, else over its logical CPU devices (`logical_cpu_devices`), or
    `multi_worker` over the workers that the TF_CONFIG environment variable names (each its GPUs,
    else its CPU)."""
    split_cpu(cfg.logical_cpu_devices)
    if cfg.strategy == "default":
        return tf.distribute.get_strategy()
    if cfg.strategy == "multi_worker":
        return _multi_worker()
    devices = ([d.name for d in tf.config.list_logical_devices("GPU")]
               or [d.name for d in tf.config.list_logical_devices("CPU")])
    strategy = tf.distribute.MirroredStrategy(devices)
    logging.info("distribute: mirrored over %d devices (%s)", strategy.num_replicas_in_sync,
                 ", ".join(devices))
    return strategy


def _multi_worker() -> tf.distribute.MultiWorkerMirroredStrategy:
    """MultiWorkerMirroredStrategy from TF_CONFIG; ValueError when TF_CONFIG names no cluster."""
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster")
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not JSON ({e})") from None
    if not cluster:
        raise ValueError('distribute.strategy="multi_worker" needs TF_CONFIG naming the cluster '
                         'and this task, e.g. {"cluster": {"worker": ["host1:port", '
                         '"host2:port"]}, "task": {"type": "worker", "index": 0}}')
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    resolver = strategy.cluster_resolver
    logging.info("distribute: multi_worker, %d replicas, this task %s %d%s",
                 strategy.num_replicas_in_sync, resolver.task_type, resolver.task_id,
                 " (the chief)" if is_chief(strategy) else "")
    return strategy


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's results to the workdir: always, except a
    multi-worker run's workers other than the chief (task `chief`, else worker 0)."""
    return strategy.extended.should_checkpoint


def worker_workdir(workdir: str, strategy: tf.distribute.Strategy) -> str:
    """Where this process reads and writes: `workdir` for the chief; for another worker of a
    multi-worker run `workdir/workers/<task index>`, its own copy of what the chief writes
    (every worker runs the same program), except that checkpoints are restored from the
    chief's (`checkpoints.restore_from`), so that every worker resumes where the chief did."""
    if is_chief(strategy):
        return workdir
    return os.path.join(workdir, WORKERS, str(strategy.cluster_resolver.task_id))


def barrier() -> None:
    """In a multi-worker run, waits until every worker has got here (a collective sum); a no-op
    otherwise. After a checkpoint save, so that no worker restores the chief's before it is
    written."""
    strategy = tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)),
                        axis=None)


def on_one_device(fn: Callable, *args, **kwargs):
    """`fn(*args, **kwargs)` under the default strategy (one device) whatever the strategy around
    it, run in a thread of its own (a strategy's scope is thread-local); its exception, if any,
    raised here. For the evaluation tools whose figures must not depend on the run's strategy
    (the GAN's attribute classifier)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as e:  # handed to the caller's thread
            outcome["error"] = e

    thread = threading.Thread(target=target, name=getattr(fn, "__name__", "on_one_device"))
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def replicas() -> int:
    """Replicas of the current strategy (1 outside any)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def batch_normalization(**kwargs) -> keras.layers.BatchNormalization:
    """Keras' BatchNormalization layer (`kwargs` as its own), taking its statistics over the
    global batch (`synchronized=True`) when built under a strategy of several replicas; with one
    replica the plain layer keeps its own arithmetic."""
    return keras.layers.BatchNormalization(synchronized=replicas() > 1, **kwargs)


def synchronize_batch_norms(model: keras.Model) -> keras.Model:
    """`model` (a keras.applications network, built with plain batch norms) with every batch
    norm taking its statistics over the global batch, as `batch_normalization`'s do, when built
    under a strategy of several replicas; unchanged otherwise."""
    if replicas() > 1:
        for layer in model._flatten_layers():
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = True
    return model


def _several_replicas():
    """The replica context of the running step when it has several replicas, else None."""
    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


def global_sum(x):
    """`x`, one replica's count (tokens, captions), summed over the replicas of the running step:
    the global batch's count. `x` itself with one replica or outside a step."""
    context = _several_replicas()
    if context is None:
        return x
    return context.all_reduce(tf.distribute.ReduceOp.SUM, tf.stop_gradient(x))


def global_mean(values):
    """The mean of `values` [B] over the global batch, as this replica's share: sum / global B
    (the plain mean, to the bit, with one replica)."""
    if _several_replicas() is None:
        return tf.reduce_mean(values)
    count = tf.cast(tf.shape(values)[0], values.dtype)
    return tf.reduce_sum(values) / tf.maximum(global_sum(count), 1.0)


def gather_batch(values):
    """`values` (this replica's rows [B_r, ...]) as the global batch's [B, ...], in the order one
    device sees them (`experimental_distribute_dataset` splits a batch in order); the gradient
    of each row flows back to the replica that owns it (all-reduced: every replica's loss may
    depend on every row). `values` itself with one replica; under several, bfloat16 values come
    back in float32 (the all-gather takes no bfloat16)."""
    context = _several_replicas()
    if context is None:
        return values
    return context.all_gather(tf.nest.map_structure(_reducible, values), axis=0)


def replica_rows(like) -> Callable:
    """values -> this replica's rows of `values`, a tensor over the global batch [B, ...] (noise
    drawn once for the whole batch): as many rows as `like`, this replica's share of the batch,
    has, at its place in the global batch (`gather_batch`'s inverse; one all-gather of the row
    counts, however many tensors are sliced). The identity with one replica."""
    context = _several_replicas()
    if context is None:
        return lambda values: values
    rows = tf.shape(like)[0]
    counts = context.all_gather(rows[None], axis=0)
    start = tf.reduce_sum(counts[:context.replica_id_in_sync_group])
    return lambda values: values[start:start + rows]


def whole_batch(batch):
    """In the cross-replica context, a distributed batch as the global batch (its replicas'
    shares concatenated in order, every worker's); `batch` itself with one replica."""
    strategy = tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync == 1:
        return batch

    def gathered(shares):  # across workers too, in a dtype the all-gather takes and back
        dtype = strategy.experimental_local_results(shares)[0].dtype
        return tf.cast(strategy.gather(strategy.run(_reducible, args=(shares,)), axis=0), dtype)

    return tf.nest.map_structure(gathered, batch)


def split_batch(batch):
    """In the cross-replica context, a global batch (a nest of [B, ...] tensors) as a distributed
    one: each replica its contiguous rows in replica order, as `experimental_distribute_dataset`
    splits a batch (`whole_batch`'s inverse). `batch` itself with one replica."""
    strategy = tf.distribute.get_strategy()
    count = strategy.num_replicas_in_sync
    if count == 1:
        return batch

    def replica_share(context):
        replica = context.replica_id_in_sync_group

        def rows(values):
            size = tf.shape(values)[0]
            return values[size * replica // count:size * (replica + 1) // count]

        return tf.nest.map_structure(rows, batch)

    return strategy.experimental_distribute_values_from_function(replica_share)


def sum_over_replicas(values):
    """In a replica step, `values` (a nest of tensors: this replica's share of a loss and its
    gradients) summed over the replicas, the same sums on every replica; `values` itself with
    one replica or outside a step."""
    context = _several_replicas()
    return values if context is None else context.all_reduce(tf.distribute.ReduceOp.SUM, values)


def first_replica(values):
    """In the cross-replica context, `strategy.run`'s result for values every replica computed
    alike (from `sum_over_replicas`' sums) as plain tensors: the first replica's."""
    strategy = tf.distribute.get_strategy()
    return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], values)


def share_of_global(loss):
    """A loss that every replica computes in full over `gather_batch`'s global batch, as this
    replica's share: loss / replicas, so that the shares add up to it and, through the gather's
    all-reduced gradient, each replica's gradient is the global loss's through its own rows.
    `loss` itself with one replica."""
    return loss if _several_replicas() is None else loss / replicas()


def distribute_batches(dataset: tf.data.Dataset):
    """`dataset`'s global batches split across the current strategy's replicas, in order (the
    dataset itself with one replica)."""
    strategy = tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync == 1:
        return dataset
    # every worker reads the same dataset and takes its replicas' rows of each global batch
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def replicated_update(replica_fn: Callable, args: tuple, apply_fn: Callable) -> tuple:
    """Inside a tf.function, in the cross-replica context: runs `replica_fn(*args) -> (gradients,
    figures)` on every replica (`args` per-replica values, e.g. a distributed batch) and sums
    both over the replicas; returns (gradients, figures, apply), where `apply(gradients)` runs
    `apply_fn(gradients)` (optimiser updates, a synchronisation point) on every replica with the
    same global `gradients`. Keras' optimisers sum the gradients they get over the replicas, so
    replica 0 passes on the global gradients and every other replica zeros of their shape: the
    optimisers then see one device's gradients exactly, sparse ones included (Keras' Adam squares
    an IndexedSlices' rows one by one, so shares of 1/N of each repeated row would change its
    second moments)."""
    strategy = tf.distribute.get_strategy()
    gradients, figures = tf.nest.map_structure(
        lambda v: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None),
        strategy.run(lambda *replica_args: tf.nest.map_structure(
            _reducible, replica_fn(*replica_args)), args=args))
    return gradients, figures, functools.partial(apply_everywhere, apply_fn)


def _reducible(value):
    """A replica's `value` as the all-reduce and all-gather take it: in a 32/64-bit dtype
    (bfloat16, a figure or an embedding under mixed_bfloat16, as float32; bool or uint8 as
    int32), and placed on the replica's device (a multi-worker collective refuses a replica's
    input, which has no device in a tf.function)."""
    if value is None:
        return None
    if value.dtype in _GATHERABLE:
        return tf.identity(value)
    return tf.cast(value, tf.float32 if value.dtype.is_floating else tf.int32)


def apply_everywhere(apply_fn: Callable, global_gradients: Sequence):
    """In the cross-replica context: `apply_fn(gradients)` (optimiser updates) on every replica,
    so that the optimisers apply `global_gradients` exactly once (see `replicated_update`)."""
    strategy = tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync == 1:
        return apply_fn(global_gradients)
    shares = strategy.experimental_distribute_values_from_function(
        lambda context: [g if context.replica_id_in_sync_group == 0 else scaled(g, 0.0)
                         for g in global_gradients])
    # as Keras' LossScaleOptimizer does in its cross-replica cond (not `run`, which fails in a
    # cond branch); the shares re-made on each replica's device, which a multi-worker
    # collective (the optimisers' sum) needs
    return strategy.extended.call_for_each_replica(
        lambda replica_shares: apply_fn([None if g is None else tf.identity(g)
                                         for g in replica_shares]), args=(shares,))


def scaled(gradient, factor):
    """A gradient (dense, IndexedSlices or None) times `factor`, in the gradient's dtype."""
    if gradient is None:
        return None
    if isinstance(gradient, tf.IndexedSlices):
        values = gradient.values * tf.cast(factor, gradient.values.dtype)
        return tf.IndexedSlices(values, gradient.indices, gradient.dense_shape)
    return gradient * tf.cast(factor, gradient.dtype)
