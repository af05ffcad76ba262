"""Every knob of a run, with its default, and the start-up check that a config is usable.

Config files under `configs/` start from `base_config()` and change values; the dict is locked,
so a misspelt key fails where it is written (in the file or on the command line), naming it.
"""

import os
from typing import Optional

import ml_collections

SOURCES = ("caption_shapes", "coco", "karpathy", "flickr8k", "tfds_coco_captions")
NORMALIZATIONS = ("imagenet", "unit", "tanh")
CAPTIONER_BACKBONES = ("resnet101", "resnet50", "small_cnn", "features")
CAPTIONER_DECODERS = ("lstm_attention", "transformer")
MIXED_PRECISION_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")  # Keras dtype policies
DISTRIBUTE_STRATEGIES = ("default", "mirrored", "multi_worker")  # caption_aug/distribute.py
SELECTION_METRICS = ("all_true", "bleu_4")   # captioner.select_by
RESNET_STAGES = ("conv1", "conv2", "conv3", "conv4", "conv5")
HYPERGRADIENT_METHODS = ("finite_difference", "exact", "first_order")


def base_config() -> ml_collections.ConfigDict:
    """The defaults: the embedded caption_shapes dataset at CPU sizes, one section per part."""
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.max_consecutive_skips = 20        # a stage stops after this many non-finite steps in a row
    config.mixed_precision = "float32"       # "mixed_bfloat16" | "mixed_float16" (GPUs; a loss
                                       # scale per stage): the Keras dtype policy of every model
    config.distribute = _distribute()
    config.data = _data()
    config.tokenizer = _tokenizer()
    config.pipeline = _pipeline()
    config.captioner = _captioner()
    config.lm = _lm()
    config.encoder = _encoder()
    config.gan = _gan()
    config.attribute_classifier = _attribute_classifier()
    config.joint = _joint()
    config.synthesize = _synthesize()
    config.study = _study()
    config.lock()
    return config


def _data() -> ml_collections.ConfigDict:
    """Which dataset, how captions are cut, and each source's paths."""
    section = ml_collections.ConfigDict()
    section.source = "caption_shapes"
    section.max_caption_words = 50           # longer captions are skipped and counted
    section.max_caption_tokens = 40          # including start and end; longer ones are cut
    section.cache_max_mb = 1024              # decoded images are kept in memory below this
    section.validation_fraction = 0.1        # for sources without splits (a COCO JSON)
    section.test_fraction = 0.1
    section.corrupt_fraction = 0.0           # share of train captions word-shuffled (the study's
                                             # corrupted-caption setting; data/corrupted_captions.json)
    section.corrupt_seed = 0
    section.caption_shapes = ml_collections.ConfigDict(dict(
        train_size=4000, validation_size=500, test_size=500, resolution=64, seed=0,
        holdout="",                          # e.g. "red circle,large star": never in train
        novel_fraction=0.5))                 # share of val/test scenes showing a held-out one
    section.coco = ml_collections.ConfigDict(dict(annotations="", image_dir=""))
    section.karpathy = ml_collections.ConfigDict(dict(json="", image_dir=""))
    section.flickr8k = ml_collections.ConfigDict(dict(
        token_file="", image_dir="", train_list="", validation_list="", test_list=""))
    section.tfds = ml_collections.ConfigDict(dict(
        data_dir="", train_split="train+restval", validation_split="val", test_split="test"))
    return section


def _tokenizer() -> ml_collections.ConfigDict:
    """The shared tokenizer: BPE trained on the train captions, or a keras-hub preset's."""
    section = ml_collections.ConfigDict()
    section.source = "train"            # "train" (BPE on train captions) or a keras-hub preset
    section.vocab_size = 1000
    section.min_frequency = 2
    return section


def _pipeline() -> ml_collections.ConfigDict:
    """Batch sizes, length buckets, and each model's image size and normalisation."""
    section = ml_collections.ConfigDict()
    section.batch_size = 32
    section.eval_batch_size = 64
    section.bucket_boundaries = (12, 16, 20, 24, 28)
    section.captioner_image_size = 64
    section.captioner_normalization = "imagenet"
    section.gan_image_size = 32              # CPU default; the paper's 64 in configs/paper.py
    section.encoder_image_size = 32
    return section


def _captioner() -> ml_collections.ConfigDict:
    """Stage 3: the Show-Attend-Tell captioner, its training and its evaluation."""
    return ml_collections.ConfigDict(dict(
        backbone="small_cnn",                # resnet101 (paper) | resnet50 | small_cnn | features
        weights="",                          # "" (random), "imagenet", or a local weights file
        fine_tune_stages=("conv3", "conv4", "conv5"),  # ResNet stages trained; others frozen
        small_cnn_filters=(32, 64, 128),     # one stride-2 conv block each: 64x64 -> 8x8
        small_cnn_stem=0,                    # >0: a stride-1 3x3 conv of this width first (0: none)
        small_cnn_convs_per_block=2,         # 3x3 convs per block: the strided one + unstrided ones
        small_cnn_residual=False,            # the unstrided convs as residual units relu(x + bn(conv))
        feature_dim=0,                       # channels of the input grid for backbone="features"
        pretrain_steps=1600,                 # caption_shapes: first train the encoder as a colour/
                                       # shape classifier of single-object images (0: off)
        pretrain_object_steps=800,           # then as a per-location (colour, shape)-pair detector
                                       # of all scenes, for binding (0: off; needs
                                       # pretrain_steps > 0)
        pretrain_batch_size=64, pretrain_learning_rate=2e-3,
        encoded_size=8,                      # pixels pooled to E x E (paper: 14)
        decoder="lstm_attention",            # Show-Attend-Tell's LSTM with attention (the keys
                                       # embedding_dim ... deep_output below) | "transformer"
                                       # (keras-hub TransformerDecoder blocks; `transformer`)
        transformer=dict(num_layers=2, num_heads=4, hidden_dim=256, intermediate_dim=512,
                         dropout=0.1,
                         max_length=64),     # positions: >= data.max_caption_tokens and the
                                       # decode length
        embedding_dim=256, attention_dim=256, decoder_dim=256,  # paper: 512 each
        dropout=0.5,
        encoder_lr=4e-4, decoder_lr=4e-4,    # paper: 1e-4 (pretrained ResNet) and 4e-4
        grad_clip_value=5.0,                 # clip each gradient element to +-5 (paper)
        alpha_c=1.0,                         # weight of the doubly stochastic attention term
        attention_coverage=False,            # the attention also sees each pixel's attention so far
                                       # (Tu et al. 2016's coverage, no coverage loss)
        attention_supervision=1.0,           # x the cross-entropy of the attention at words naming
                                       # an object against the object's disc (caption_shapes;
                                       # 0: off, the paper's)
        position_channels=True,              # each pixel's x, y appended to the encoder's features
        relation_head=True,                  # a second attention whose context, and centre
                                       # relative to the first's, the LSTM reads (needs
                                       # position_channels)
        deep_output=True,                    # the word classifier reads the step's attention context
                                       # beside the LSTM's h (Show-Attend-Tell's deep output)
        epochs=4,                            # 2 leave the relation head unlearnt (README, Stage 3)
        steps_per_epoch=0,                   # 0: a whole pass over the train captions
        select_by="bleu_4",                  # the validation figure that picks the best epoch and
                                       # drives decay / early stopping: "bleu_4" or "all_true"
                                       # (share of captions entirely true; caption_shapes; it
                                       # favours epochs whose captions leave objects out)
        early_stopping_patience=20,          # epochs without a gain of it (paper: 20, by BLEU-4)
        lr_decay_patience=8,                 # lr *= lr_decay_factor after this many (paper: 8)
        lr_decay_factor=0.8,
        max_decode_length=0,                 # 0: data.max_caption_tokens
        validation_beam_size=1,              # captions for validation BLEU-4 (no teacher forcing)
        validation_images=0,                 # 0: the whole validation split
        eval_beam_sizes=(1, 3, 5),           # the paper's Table 2
        export_beam_size=3,
        jit_compile=False,                   # XLA for the train step (slower on CPU here)
        beam_search_jit_compile=True,        # XLA for beam search (eval, validation, export)
        log_every_steps=100,
        checkpoint_every_steps=200,          # also checkpoint mid-epoch (resume is step-exact)
        num_attention_maps=4))               # test images in the attention figure / TensorBoard


def _lm() -> ml_collections.ConfigDict:
    """Stage 1: the caption LM with its caption weights A, and its caption generation."""
    return ml_collections.ConfigDict(dict(
        preset="",                           # "": from scratch; else a keras-hub preset name,
                                              # "hf://..." handle or local folder (GPT-2 family)
        num_layers=2, num_heads=4, hidden_dim=128, intermediate_dim=512,  # from-scratch size
        dropout=0.1,
        max_sequence_length=64,              # position embeddings (>= data.max_caption_tokens)
        text_only_source="",                 # a COCO captions JSON: train the LM on its captions
                                              # alone (images ignored), split by data.*_fraction
        initial_caption_weight=0.9,          # a_i = sigmoid(A_i) at the start
        learning_rate=5e-4,
        weight_decay=0.01,
        gradient_clip_norm=1.0,
        epochs=2,                            # sized so --mode=all fits ~10 min on 2 cores
        steps_per_epoch=0,                   # 0: a whole pass over the train captions
        log_every_steps=100,
        checkpoint_every_steps=200,          # also checkpoint mid-epoch (resume is step-exact)
        straight_through_temperature=1.0,    # tau of the relaxed one-hots (stage 4)
        generation=ml_collections.ConfigDict(dict(
       prompt_words=5,                  # prompt: the first words of a real train caption
       max_length=20,                   # caption tokens generated at most, prompt included
       # beam | greedy | top_k | top_p. Nucleus p=0.95 at temperature 1: the joint phase's
       # draws (20 x 16 from the warmed-up default LM, seeds 0 / 1) are valid scenes 0.944 /
       # 0.969, distinct-2 0.153 / 0.162, self-BLEU-4 0.684 / 0.702, as diverse as the real
       # captions they are prompted from (0.159 / 0.164, 0.692 / 0.694); beam 2 (the paper's
       # choice, configs/paper.py): 0.938 / 0.944, 0.105 / 0.128, 0.871 / 0.843. Table and
       # the other settings: README, Stage 1.
       sampler="top_p",
       num_beams=2, top_k=10, top_p=0.95, temperature=1.0,
       batch_size=64,
       num_eval_prompts=500,            # train captions whose prompts are scored
       num_table_rows=12))))            # example captions in TensorBoard and the report


def _encoder() -> ml_collections.ConfigDict:
    """The sentence encoder (joint image/text embedding) that conditions the GAN."""
    return ml_collections.ConfigDict(dict(
        embedding_dim=1024,                  # the text vector that conditions the GAN
        token_embedding_dim=128,
        rnn="gru",                           # gru | lstm (bidirectional)
        rnn_units=128,
        image_backbone="small_cnn",          # small_cnn | MobileNetV2 | ResNet50 | EfficientNetB0
        image_weights="",                    # "" (random), "imagenet", or a local weights file
        image_normalization="imagenet",
        temperature=0.1,                     # softmax temperature of the contrastive loss
        learning_rate=1e-3,
        epochs=1,                            # sized so --mode=all fits ~10 min on 2 cores
        steps_per_epoch=0,                   # 0: a whole pass over the train captions
        image_pretrain_steps=0,              # caption_shapes: first train the image side as a
                                         # colour/shape classifier (shapes_long: 1,600)
        image_pretrain_batch_size=64, image_pretrain_learning_rate=2e-3,
        log_every_steps=100,
        checkpoint_every_steps=200))         # also checkpoint mid-epoch (resume is step-exact)


def _gan() -> ml_collections.ConfigDict:
    """Stage 2: the Stage2GAN, its DARTS supernet discriminator and its training."""
    return ml_collections.ConfigDict(dict(
        generator_channels=16,               # last hidden map of G; earlier ones double (Reed: 64)
        discriminator_channels=8,            # first supernet cell; each further cell doubles
        noise_dim=100,
        generator_upsampling="resize",       # resize (nearest + 3x3 conv) | transposed (DCGAN's,
                                             # the paper's: its checkerboards fool D for long)
        generator_text_modulation=False,     # also FiLM every upsampling layer by the caption
        conditioning="encoder",              # encoder: the frozen trained sentence encoder of the
                                             # workdir (run train_encoder first); trainable: a
                                             # stand-in caption embedding trained by D's loss
        conditioning_token_dim=64,           # token vectors of the stand-in caption embedding
        derived_architecture="",             # a derive() JSON: train that fixed discriminator
                                             # (GAN stage only: the joint phase searches B)
        max_objects=0,                       # >0: train on caption_shapes scenes with at most this
                                             # many objects (0: all)
        batch_size=64,
        generator_lr=1e-3, discriminator_lr=1e-3,  # the paper's 1e-4 / 1e-5 (configs/paper.py)
                                             # starve D on a CPU budget (README, Stage 2)
        conditioning_lr=1e-4,                # the caption embedding, trained by D's loss
        beta1=0.5, beta2=0.999,
        generator_steps=1,                   # generator updates per discriminator update (paper: 5)
        iterations=1200,                     # each one D update + generator_steps G updates
                                             # (~0.4 s each at 32x32 on 2 CPU cores). 600 left
                                             # seed 1 at colour 0.79 (README, Stage 2)
        loss="hinge",                        # hinge (SAGAN) | bce (the paper's GAN-CLS)
        discriminator_conditioning="projection",  # projection (Miyato) | concat (Reed, the paper)
        matching_weight=1.0,                 # x the image-text matching loss of G's images through
                                             # the frozen sentence encoder (needs conditioning=
                                             # "encoder"; 0: off, the paper's GAN-CLS alone)
        matching_temperature=0.1,            # its softmax temperature (the encoder's own is 0.1)
        matching_shift=4,                    # the matching loss scores G's images shifted by up
                                             # to this many pixels (random per image; 0: unshifted)
        mode_seeking_weight=0.1,             # x MSGAN's mode-seeking term: G's images of one
                                             # caption should differ with the noise (0: off; 1
                                             # draws more varied images but cost seed 2 its
                                             # colour, README Stage 2)
        ema_decay=0.99,                      # >0: sample, score and hand on to stage 4 the moving
                                             # average of G's weights (0: G itself, the paper's)
        interpolation=False,                 # GAN-INT: also condition G on mixed embeddings
        interpolation_beta=0.5,
        summary_every=50, checkpoint_every=50,
        sample_captions=8,                   # validation captions in the sample grid
        samples_per_caption=3))


def _attribute_classifier() -> ml_collections.ConfigDict:
    """The classifier that scores generated images' colours and shapes."""
    return ml_collections.ConfigDict(dict(
        steps=800,                           # 400 gave a colour ceiling of 0.89 for seed 1 (1.00
                            # for seed 0) at 32x32; 64x64 shape needs ~1,600
        batch_size=64, learning_rate=2e-3,
        filters=(32, 64, 128), convs_per_block=2,  # the captioner's small_cnn trunk
        stem=16))                            # its stride-1 stem conv: small hexagon vs circle


def _joint() -> ml_collections.ConfigDict:
    """Stage 4: the joint phase and its hypergradients of A and B."""
    return ml_collections.ConfigDict(dict(
        iterations=20,                       # joint iterations after the stages' warm-up
        synthetic_weight=0.5,                # lambda: weight of the synthetic captioner loss
        real_weight=1.0,                     # weight of the real captioner loss (0: synthetic only)
        captioner_lr=0.0,                    # the captioner's Adam rate (encoder, decoder) here, in
                                             # the control arm and the virtual step (0: its own
                                             # captioner.encoder_lr / decoder_lr)
        synthetic_batch_size=16,             # synthetic pairs drawn per iteration
        hypergradient="finite_difference",   # finite_difference | exact (nested tapes; one
                                           # device, oneDNN off) | first_order (v at W only)
        hypergradient_every=1,               # A/B update every k iterations
        epsilon_scale=0.01,                  # eps = epsilon_scale / ||v|| (and the inner ones)
        update_caption_weights=True,         # A (ablation: False freezes it)
        update_architecture=True,            # B (ablation: False freezes it)
        update_lm_and_gan=True,              # False: the LM and GAN stay as warmed up (with A and
                                             # B frozen: plain augmentation)
        caption_weights_lr=1e-2,             # SGD on A's batch-normalised hypergradient
        architecture_lr=3e-4,                # Adam on B, DARTS' settings
        architecture_weight_decay=1e-3,
        jit_compile=False,                   # XLA for the joint step
        log_every=5, checkpoint_every=5))


def _synthesize() -> ml_collections.ConfigDict:
    """`--mode=synthesize`: the synthetic pairs it writes."""
    return ml_collections.ConfigDict(dict(
        num_pairs=100))                      # --mode=synthesize: pairs written to WORKDIR/synthetic


def _distribute() -> ml_collections.ConfigDict:
    """tf.distribute (caption_aug/distribute.py) for the modes of
    `distribute.DISTRIBUTED_MODES`."""
    return ml_collections.ConfigDict(dict(
        strategy="default",                  # "mirrored": one host's GPUs (else its logical CPUs);
                                             # "multi_worker": the hosts TF_CONFIG names
        logical_cpu_devices=0))              # > 0: split the CPU into this many devices (mirrored)


def _study() -> ml_collections.ConfigDict:
    """`--mode=study` (configs/shapes_study.py): the arms, settings and seeds it runs."""
    return ml_collections.ConfigDict(dict(
        seeds=(0, 1, 2),
        arms=("full", "a_frozen", "b_frozen", "first_order", "plain_augmentation",
              "synthetic_only"),             # beside the control, at the config's own train_size
        train_sizes=(100, 1000),             # the low-data sweep: control and full at these too
        holdout="red circle,large star",     # the compositional setting: control and full ("": none)
        corrupt_fraction=0.2,                # the corrupted-caption setting: control and full, and
                                             # the AUC of a_i (0: none)
        corrupted_joint_iterations=60,       # its joint phase, long enough for most a_i to move
        parallel_runs=2,                     # (setting, seed) runs at a time, each its own process
        only=()))                            # run only these settings (e.g. ('corrupted_250',));
                                             # (): every one


# Show-Attend-Tell's decoder as the paper has it: the default's four caption_shapes options off.
PAPER_DECODER = {"attention_supervision": 0.0, "position_channels": False,
                 "relation_head": False, "deep_output": False}


def joint_captioner(config) -> ml_collections.ConfigDict:
    """The captioner's settings where the joint phase and the control arm continue it from its
    warm-up: its rates replaced by `joint.captioner_lr` when that is set (a frozen encoder, rate 0,
    stays frozen)."""
    captioner = config.captioner.copy_and_resolve_references()
    rate = config.joint.captioner_lr
    if rate:
        captioner.decoder_lr = rate
        captioner.encoder_lr = rate if captioner.encoder_lr else 0.0
    return captioner


def scene_free_captioner(captioner: ml_collections.ConfigDict) -> None:
    """Turns off, in place, what the CPU default captioner learns from caption_shapes' scene
    metadata (encoder pretraining, attention supervision) and the decoder options measured only
    with it (position channels, relation head, deep output): Show-Attend-Tell as the paper has it,
    for real photos."""
    captioner.pretrain_steps = captioner.pretrain_object_steps = 0
    captioner.update(PAPER_DECODER)


def validate(config: ml_collections.ConfigDict, check_data_paths: bool = True) -> None:
    """Raises ValueError naming the first key whose value cannot work; `check_data_paths=False`
    (for `--mode=dry_run`) accepts dataset paths that do not exist here.

    Types come first (`check_types`), so the value checks below and the run never meet, say, a
    string where a number belongs."""
    check_types(config)
    for check in (_check_data, _check_distribute, _check_pipeline, _check_captioner, _check_lm,
                  _check_encoder, _check_gan, _check_joint):
        check(config)
    if check_data_paths:
        _check_data_paths(config)


def _check_data(config) -> None:
    data = config.data
    _require(config.max_consecutive_skips > 0, "max_consecutive_skips", config.max_consecutive_skips,
             "> 0")
    _require(config.mixed_precision in MIXED_PRECISION_POLICIES, "mixed_precision",
             config.mixed_precision, f"one of {MIXED_PRECISION_POLICIES}")
    _require(data.source in SOURCES, "data.source", data.source, f"one of {SOURCES}")
    _require(data.max_caption_words > 0, "data.max_caption_words", data.max_caption_words, "> 0")
    _require(data.max_caption_tokens >= 3, "data.max_caption_tokens", data.max_caption_tokens, ">= 3")
    _require(0 <= data.validation_fraction + data.test_fraction < 1, "data.validation_fraction",
             data.validation_fraction, "fractions summing to less than 1")
    _require(0 <= data.corrupt_fraction < 1, "data.corrupt_fraction", data.corrupt_fraction,
             "in [0, 1)")


def _check_pipeline(config) -> None:
    pipeline = config.pipeline
    _require(pipeline.captioner_normalization in NORMALIZATIONS,
             "pipeline.captioner_normalization", pipeline.captioner_normalization,
             f"one of {NORMALIZATIONS}")
    _require(pipeline.batch_size > 0, "pipeline.batch_size", pipeline.batch_size, "> 0")
    _require(list(pipeline.bucket_boundaries) == sorted(pipeline.bucket_boundaries),
             "pipeline.bucket_boundaries", pipeline.bucket_boundaries, "increasing")


def _check_data_paths(config) -> None:
    """The annotation files and image folders of a file-based source exist."""
    data = config.data
    if data.source in ("coco", "karpathy", "flickr8k"):
        for key, path in data[data.source].items():
            if key.endswith("_list") and not path:
                continue
            _require(path and os.path.exists(path), f"data.{data.source}.{key}", path,
                     "an existing path")


def _check_captioner(config) -> None:
    data = config.data
    cap = config.captioner
    _require(cap.backbone in CAPTIONER_BACKBONES, "captioner.backbone", cap.backbone,
             f"one of {CAPTIONER_BACKBONES}")
    _require(set(cap.fine_tune_stages) <= set(RESNET_STAGES), "captioner.fine_tune_stages",
             cap.fine_tune_stages, f"some of {RESNET_STAGES}")
    _require(cap.weights in ("", "imagenet") or os.path.isfile(cap.weights), "captioner.weights",
             cap.weights, '"", "imagenet" or an existing weights file')
    _require(not (cap.backbone == "small_cnn" and cap.weights), "captioner.weights", cap.weights,
             '"" for the small_cnn backbone (it has no pretrained weights)')
    _require(len(cap.small_cnn_filters) > 0 and min(cap.small_cnn_filters) > 0,
             "captioner.small_cnn_filters", cap.small_cnn_filters, "positive widths")
    _require(cap.small_cnn_stem >= 0, "captioner.small_cnn_stem", cap.small_cnn_stem,
             ">= 0 (0: no stem)")
    _require(cap.small_cnn_convs_per_block >= 1, "captioner.small_cnn_convs_per_block",
             cap.small_cnn_convs_per_block, ">= 1")
    _require(cap.pretrain_steps >= 0, "captioner.pretrain_steps", cap.pretrain_steps, ">= 0")
    _require(cap.pretrain_object_steps == 0 or cap.pretrain_steps > 0,
             "captioner.pretrain_object_steps", cap.pretrain_object_steps,
             "0 unless captioner.pretrain_steps > 0")
    _require(cap.pretrain_steps == 0 or data.source == "caption_shapes", "captioner.pretrain_steps",
             cap.pretrain_steps, "0 unless data.source is caption_shapes (it needs scene metadata)")
    _require(cap.select_by in SELECTION_METRICS, "captioner.select_by", cap.select_by,
             f"one of {SELECTION_METRICS}")
    _require(cap.select_by != "all_true" or data.source == "caption_shapes", "captioner.select_by",
             cap.select_by, '"bleu_4" unless data.source is caption_shapes (all_true needs scenes)')
    _require(cap.pretrain_batch_size > 0 and cap.pretrain_learning_rate > 0,
             "captioner.pretrain_learning_rate", cap.pretrain_learning_rate,
             "> 0 (and pretrain_batch_size > 0)")
    _require(cap.backbone != "features" or cap.feature_dim > 0, "captioner.feature_dim",
             cap.feature_dim, "> 0 for backbone=features")
    for key in ("encoded_size", "embedding_dim", "attention_dim", "decoder_dim", "epochs",
                "validation_beam_size", "export_beam_size", "log_every_steps",
                "checkpoint_every_steps"):
        _require(cap[key] > 0, f"captioner.{key}", cap[key], "> 0")
    _require(0 <= cap.dropout < 1, "captioner.dropout", cap.dropout, "in [0, 1)")
    _require(cap.encoder_lr >= 0 and cap.decoder_lr > 0, "captioner.decoder_lr", cap.decoder_lr,
             "> 0 (and encoder_lr >= 0)")
    _require(cap.grad_clip_value > 0, "captioner.grad_clip_value", cap.grad_clip_value, "> 0")
    _require(cap.alpha_c >= 0, "captioner.alpha_c", cap.alpha_c, ">= 0")
    _require(cap.attention_supervision >= 0, "captioner.attention_supervision",
             cap.attention_supervision, ">= 0")
    _require(cap.attention_supervision == 0 or data.source == "caption_shapes",
             "captioner.attention_supervision", cap.attention_supervision,
             "0 unless data.source is caption_shapes (it needs the objects' positions)")
    _require(not cap.relation_head or cap.position_channels, "captioner.relation_head",
             cap.relation_head, "False unless captioner.position_channels (it reads them)")
    _require(0 < cap.lr_decay_factor <= 1, "captioner.lr_decay_factor", cap.lr_decay_factor,
             "in (0, 1]")
    _require(cap.max_decode_length == 0 or cap.max_decode_length >= 2, "captioner.max_decode_length",
             cap.max_decode_length, "0 or >= 2")
    _require(len(cap.eval_beam_sizes) > 0 and min(cap.eval_beam_sizes) > 0,
             "captioner.eval_beam_sizes", cap.eval_beam_sizes, "positive beam sizes")
    _require(cap.decoder in CAPTIONER_DECODERS, "captioner.decoder", cap.decoder,
             f"one of {CAPTIONER_DECODERS}")
    t = cap.transformer
    for key in ("num_layers", "num_heads", "hidden_dim", "intermediate_dim"):
        _require(t[key] > 0, f"captioner.transformer.{key}", t[key], "> 0")
    _require(t.hidden_dim % t.num_heads == 0, "captioner.transformer.hidden_dim", t.hidden_dim,
             f"a multiple of captioner.transformer.num_heads ({t.num_heads})")
    _require(0 <= t.dropout < 1, "captioner.transformer.dropout", t.dropout, "in [0, 1)")
    longest = max(data.max_caption_tokens, cap.max_decode_length)
    _require(cap.decoder != "transformer" or t.max_length >= longest,
             "captioner.transformer.max_length", t.max_length,
             f">= data.max_caption_tokens and captioner.max_decode_length ({longest})")


def _check_lm(config) -> None:
    lm, gen, data = config.lm, config.lm.generation, config.data
    if not lm.preset:
        for key in ("num_layers", "num_heads", "hidden_dim", "intermediate_dim"):
            _require(lm[key] > 0, f"lm.{key}", lm[key], "> 0")
        _require(lm.hidden_dim % lm.num_heads == 0, "lm.hidden_dim", lm.hidden_dim,
                 "a multiple of lm.num_heads")
        _require(lm.max_sequence_length >= max(data.max_caption_tokens, gen.max_length + 2),
                 "lm.max_sequence_length", lm.max_sequence_length,
                 ">= data.max_caption_tokens and >= lm.generation.max_length + 2")
    _require(not lm.text_only_source or os.path.isfile(lm.text_only_source),
             "lm.text_only_source", lm.text_only_source, '"" or an existing COCO captions JSON')
    _require(0 < lm.initial_caption_weight < 1, "lm.initial_caption_weight",
             lm.initial_caption_weight, "in (0, 1)")
    _require(0 <= lm.dropout < 1, "lm.dropout", lm.dropout, "in [0, 1)")
    for key in ("learning_rate", "gradient_clip_norm", "epochs", "log_every_steps",
                "checkpoint_every_steps", "straight_through_temperature"):
        _require(lm[key] > 0, f"lm.{key}", lm[key], "> 0")
    _require(gen.sampler in ("beam", "greedy", "top_k", "top_p"), "lm.generation.sampler",
             gen.sampler, "one of beam, greedy, top_k, top_p")
    for key in ("prompt_words", "max_length", "num_beams", "top_k", "temperature", "batch_size",
                "num_eval_prompts"):
        _require(gen[key] > 0, f"lm.generation.{key}", gen[key], "> 0")
    _require(0 < gen.top_p <= 1, "lm.generation.top_p", gen.top_p, "in (0, 1]")
    _require(gen.prompt_words < gen.max_length, "lm.generation.prompt_words", gen.prompt_words,
             "< lm.generation.max_length")


def _check_encoder(config) -> None:
    enc = config.encoder
    for key in ("embedding_dim", "token_embedding_dim", "rnn_units", "temperature", "learning_rate",
                "epochs", "log_every_steps", "checkpoint_every_steps"):
        _require(enc[key] > 0, f"encoder.{key}", enc[key], "> 0")
    _require(enc.rnn in ("gru", "lstm"), "encoder.rnn", enc.rnn, "gru or lstm")
    _require(enc.image_normalization in NORMALIZATIONS, "encoder.image_normalization",
             enc.image_normalization, f"one of {NORMALIZATIONS}")
    _require(enc.image_weights in ("", "imagenet") or os.path.isfile(enc.image_weights),
             "encoder.image_weights", enc.image_weights, '"", "imagenet" or an existing file')
    _require(enc.image_pretrain_steps >= 0, "encoder.image_pretrain_steps",
             enc.image_pretrain_steps, ">= 0")
    _require(enc.image_pretrain_steps == 0 or config.data.source == "caption_shapes",
             "encoder.image_pretrain_steps", enc.image_pretrain_steps,
             "0 unless data.source is caption_shapes (it needs scene metadata)")
    _require(enc.image_pretrain_batch_size > 0 and enc.image_pretrain_learning_rate > 0,
             "encoder.image_pretrain_learning_rate", enc.image_pretrain_learning_rate,
             "> 0 (and image_pretrain_batch_size > 0)")
    _require(not (enc.image_backbone == "small_cnn" and enc.image_weights), "encoder.image_weights",
             enc.image_weights, '"" for the small_cnn backbone (it has no pretrained weights)')


def _check_gan(config) -> None:
    data = config.data
    gan = config.gan
    size = config.pipeline.gan_image_size
    _require(size >= 8 and size & (size - 1) == 0, "pipeline.gan_image_size", size,
             "a power of two >= 8 (e.g. 32 or 64)")
    for key in ("generator_channels", "discriminator_channels", "noise_dim",
                "conditioning_token_dim", "batch_size", "generator_lr", "discriminator_lr",
                "conditioning_lr", "generator_steps", "iterations", "summary_every",
                "checkpoint_every", "sample_captions", "samples_per_caption"):
        _require(gan[key] > 0, f"gan.{key}", gan[key], "> 0")
    _require(gan.batch_size >= 2, "gan.batch_size", gan.batch_size, ">= 2 (batch norm)")
    for key in ("beta1", "beta2", "interpolation_beta", "ema_decay"):
        _require(0 <= gan[key] < 1, f"gan.{key}", gan[key], "in [0, 1)")
    _require(gan.max_objects >= 0, "gan.max_objects", gan.max_objects, ">= 0")
    _require(gan.conditioning in ("encoder", "trainable"), "gan.conditioning", gan.conditioning,
             '"encoder" or "trainable"')
    _require(gan.loss in ("bce", "hinge"), "gan.loss", gan.loss, '"bce" or "hinge"')
    _require(gan.discriminator_conditioning in ("concat", "projection"),
             "gan.discriminator_conditioning", gan.discriminator_conditioning,
             '"concat" or "projection"')
    _require(gan.matching_shift >= 0, "gan.matching_shift", gan.matching_shift, ">= 0")
    _require(gan.mode_seeking_weight >= 0, "gan.mode_seeking_weight", gan.mode_seeking_weight,
             ">= 0")
    _require(gan.matching_weight >= 0 and gan.matching_temperature > 0, "gan.matching_weight",
             gan.matching_weight, ">= 0 (and gan.matching_temperature > 0)")
    _require(gan.matching_weight == 0 or gan.conditioning == "encoder", "gan.matching_weight",
             gan.matching_weight, '0 unless gan.conditioning="encoder" (it needs the encoder\'s '
             'image side)')
    _require(gan.generator_upsampling in ("transposed", "resize"), "gan.generator_upsampling",
             gan.generator_upsampling, '"transposed" or "resize"')
    _require(not gan.max_objects or data.source == "caption_shapes", "gan.max_objects",
             gan.max_objects, "0 unless data.source is caption_shapes (it needs scene metadata)")
    _require(not gan.derived_architecture or os.path.isfile(gan.derived_architecture),
             "gan.derived_architecture", gan.derived_architecture, '"" or an existing JSON file')
    for key in ("steps", "batch_size", "learning_rate", "convs_per_block"):
        _require(config.attribute_classifier[key] > 0, f"attribute_classifier.{key}",
                 config.attribute_classifier[key], "> 0")
    _require(config.attribute_classifier.stem >= 0, "attribute_classifier.stem",
             config.attribute_classifier.stem, ">= 0 (0: no stem)")
    filters = config.attribute_classifier.filters
    _require(len(filters) > 0 and min(filters) > 0, "attribute_classifier.filters", filters,
             "positive widths")


def _check_distribute(config) -> None:
    dist = config.distribute
    _require(dist.strategy in DISTRIBUTE_STRATEGIES, "distribute.strategy", dist.strategy,
             f"one of {DISTRIBUTE_STRATEGIES}")
    _require(dist.logical_cpu_devices >= 0, "distribute.logical_cpu_devices",
             dist.logical_cpu_devices, ">= 0")
    _require(dist.strategy != "multi_worker" or dist.logical_cpu_devices == 0,
             "distribute.logical_cpu_devices", dist.logical_cpu_devices,
             '0 under distribute.strategy="multi_worker" (each worker takes its GPUs, else its CPU)')
    distributed = f"under distribute.strategy={dist.strategy!r}"
    for key in ("captioner", "joint"):
        _require(dist.strategy == "default" or not config[key].jit_compile,
                 f"{key}.jit_compile", config[key].jit_compile,
                 f"False {distributed} (XLA does not compile its replicas)")
    _require(dist.strategy == "default" or config.joint.hypergradient != "exact",
             "joint.hypergradient", config.joint.hypergradient,
             f'"finite_difference" or "first_order" {distributed} (the nested tapes of '
             '"exact", a check for small models, run on one device)')


def _check_joint(config) -> None:
    joint = config.joint
    _require(joint.hypergradient in HYPERGRADIENT_METHODS, "joint.hypergradient",
             joint.hypergradient, f"one of {HYPERGRADIENT_METHODS}")
    for key in ("iterations", "synthetic_batch_size", "hypergradient_every", "epsilon_scale",
                "caption_weights_lr", "architecture_lr", "log_every", "checkpoint_every"):
        _require(joint[key] > 0, f"joint.{key}", joint[key], "> 0")
    _require(config.synthesize.num_pairs > 0, "synthesize.num_pairs", config.synthesize.num_pairs,
             "> 0")
    _require(joint.synthetic_weight >= 0, "joint.synthetic_weight", joint.synthetic_weight, ">= 0")
    _require(joint.real_weight >= 0, "joint.real_weight", joint.real_weight, ">= 0")
    _require(joint.captioner_lr >= 0, "joint.captioner_lr", joint.captioner_lr,
             ">= 0 (0: the captioner's own rates)")
    _require(joint.real_weight + joint.synthetic_weight > 0, "joint.synthetic_weight",
             joint.synthetic_weight, "> 0 when joint.real_weight is 0 (the captioner needs a loss)")
    _require(joint.architecture_weight_decay >= 0, "joint.architecture_weight_decay",
             joint.architecture_weight_decay, ">= 0")


def check_types(config, defaults: Optional[ml_collections.ConfigDict] = None,
                prefix: str = "") -> None:
    """Raises ValueError naming the first key whose value has not the type of its default in
    `base_config()`: an int is accepted where a float is expected, a bool is not an int, and a
    tuple (or list) must hold items of its default's item type (ints for bucket_boundaries)."""
    defaults = base_config() if defaults is None else defaults
    if not isinstance(config, ml_collections.ConfigDict):
        raise ValueError(f"config{' key ' + prefix[:-1] if prefix else ''} is "
                         f"{type(config).__name__}, not a ConfigDict: start from "
                         "config_schema.base_config()")
    unknown = sorted(set(config.keys()) - set(defaults.keys()))
    if unknown:
        raise ValueError(f"unknown config key: {prefix}{unknown[0]}")
    for key, default in defaults.items():
        if key not in config:
            raise ValueError(f"config key {prefix}{key} is missing: start from "
                             "config_schema.base_config()")
        value = config[key]
        if isinstance(default, ml_collections.ConfigDict):
            check_types(value, default, f"{prefix}{key}.")
        elif not _has_type_of(value, default):
            _require(False, prefix + key, value, f"{_type_name(default)} (default: {default!r})")


def _has_type_of(value, default) -> bool:
    if default is None:
        return True
    if isinstance(default, (tuple, list)):
        return isinstance(value, (tuple, list)) and (
            not default or all(_has_type_of(item, default[0]) for item in value))
    if isinstance(default, bool) or isinstance(value, bool):  # bool is an int subclass
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


_TYPE_NAMES = {bool: ("a bool", "bools"), int: ("an int", "ints"), float: ("a number", "numbers"),
               str: ("a string", "strings")}


def _type_name(default) -> str:
    if isinstance(default, (tuple, list)):
        return "a tuple" + (f" of {_TYPE_NAMES[type(default[0])][1]}" if default else "")
    return _TYPE_NAMES.get(type(default), (type(default).__name__,))[0]


def _require(ok: bool, key: str, value, expected: str) -> None:
    if not ok:
        raise ValueError(f"config key {key}={value!r} is invalid: expected {expected}")
