"""TF1 1.15's public names (``tf.compat.v1``), so that a TF1 name graphc lacks fails with
an AttributeError saying so, instead of Python's "has no attribute ... Did you mean".

:func:`install` gives a module a module-level ``__getattr__`` (PEP 562), which Python
calls only for a name the module does not have: graphc's own names are untouched
(``hasattr`` stays True, ``from graphc import *`` reads the module's namespace).
- a TF1 name (in :data:`TF1_NAMES` for the module's TF1 path): AttributeError
  "tf.nn.foo is a TF1 name that graphc does not provide ...", pointing to the README's
  list of what is left out; it carries no ``name``, so Python adds no "Did you mean";
- a dunder name (``__path__``, ``__wrapped__``, ...): a plain AttributeError at once, for
  pickle, copy and introspection tools;
- any other name: the ordinary AttributeError (with its "Did you mean" guesses).

The lists are TF1 1.15's names as documented for each module; they need not be
exhaustive (a TF1 name missing from them just keeps the ordinary error). This module
imports nothing from graphc: ``graphc/__init__.py`` calls :func:`install_all`.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

README_SECTION = 'the README\'s list of what graphc leaves out of TF1 ("Left out of TF1")'


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The public names of each TF1 module, by its TF1 path.
TF1_NAMES: dict[str, frozenset[str]] = {
    "tf": _names(
        """
        abs accumulate_n acos acosh add add_check_numerics_ops add_n add_to_collection add_to_collections
        AggregationMethod all_variables angle app arg_max arg_min argmax argmin argsort as_dtype as_string
        asin asinh assert_equal assert_greater assert_greater_equal assert_integer assert_less
        assert_less_equal assert_near assert_negative assert_non_negative assert_non_positive
        assert_none_equal assert_positive assert_proper_iterable assert_rank assert_rank_at_least
        assert_rank_in assert_same_float_dtype assert_scalar assert_type assert_variables_initialized assign
        assign_add assign_sub atan atan2 atanh AttrValue audio autograph batch_gather batch_scatter_update
        batch_to_space batch_to_space_nd betainc bfloat16 bincount bitcast bitwise bool boolean_mask
        broadcast_dynamic_shape broadcast_static_shape broadcast_to case cast ceil check_numerics cholesky
        cholesky_solve clip_by_average_norm clip_by_global_norm clip_by_norm clip_by_value colocate_with
        compat complex complex128 complex64 concat cond ConditionalAccumulator ConditionalAccumulatorBase
        ConfigProto confusion_matrix conj constant constant_initializer container contrib
        control_dependencies control_flow_v2_enabled convert_to_tensor convert_to_tensor_or_indexed_slices
        convert_to_tensor_or_sparse_tensor cos cosh count_nonzero count_up_to create_partitioned_variables
        CriticalSection cross cumprod cumsum custom_gradient data debugging decode_base64 decode_compressed
        decode_csv decode_json_example decode_raw delete_session_tensor depth_to_space dequantize
        deserialize_many_sparse device DeviceSpec diag diag_part digamma Dimension dimension_at_index
        dimension_value disable_control_flow_v2 disable_eager_execution disable_tensor_equality
        disable_v2_behavior disable_v2_tensorshape distribute distributions div div_no_nan divide double
        DType dtypes dynamic_partition dynamic_stitch edit_distance einsum enable_control_flow_v2
        enable_eager_execution enable_tensor_equality enable_v2_behavior enable_v2_tensorshape encode_base64
        ensure_shape equal erf erfc errors estimator Event executing_eagerly exp expand_dims experimental
        expm1 extract_image_patches extract_volume_patches eye fake_quant_with_min_max_args
        fake_quant_with_min_max_args_gradient fake_quant_with_min_max_vars
        fake_quant_with_min_max_vars_gradient fake_quant_with_min_max_vars_per_channel
        fake_quant_with_min_max_vars_per_channel_gradient feature_column fft fft2d fft3d FIFOQueue fill
        fingerprint fixed_size_partitioner FixedLenFeature FixedLengthRecordReader FixedLenSequenceFeature
        flags float16 float32 float64 floor floor_div floordiv floormod foldl foldr function gather
        gather_nd get_collection get_collection_ref get_default_graph get_default_session get_local_variable
        get_logger get_seed get_session_handle get_session_tensor get_static_value get_variable
        get_variable_scope gfile GIT_VERSION global_norm global_variables global_variables_initializer
        glorot_normal_initializer glorot_uniform_initializer GPUOptions grad_pass_through gradients Graph
        GRAPH_DEF_VERSION GRAPH_DEF_VERSION_MIN_CONSUMER GRAPH_DEF_VERSION_MIN_PRODUCER graph_util GraphDef
        GraphKeys GraphOptions greater greater_equal group guarantee_const half hessians
        histogram_fixed_width histogram_fixed_width_bins HistogramProto identity identity_n IdentityReader
        ifft ifft2d ifft3d igamma igammac imag image import_graph_def IndexedSlices IndexedSlicesSpec
        init_scope initialize_all_tables initialize_all_variables initialize_local_variables
        initialize_variables initializers int16 int32 int64 int8 InteractiveSession invert_permutation io
        is_finite is_inf is_nan is_non_decreasing is_numeric_tensor is_strictly_increasing is_tensor
        is_variable_initialized keras layers lbeta less less_equal lgamma lin_space linalg linspace lite
        LMDBReader load_file_system_library load_library load_op_library local_variables
        local_variables_initializer log log1p log_sigmoid logging logical_and logical_not logical_or
        logical_xor LogMessage lookup losses make_ndarray make_template make_tensor_proto manip map_fn
        matching_files math matmul matrix_band_part matrix_determinant matrix_diag matrix_diag_part
        matrix_inverse matrix_set_diag matrix_solve matrix_solve_ls matrix_square_root matrix_transpose
        matrix_triangular_solve maximum meshgrid MetaGraphDef metrics min_max_variable_partitioner minimum
        mixed_precision mlir mod model_variables MONOLITHIC_BUILD moving_average_variables multinomial
        multiply name_scope NameAttrList negative nest newaxis nn no_gradient no_op no_regularizer NodeDef
        NoGradient nondifferentiable_batch_function norm not_equal numpy_function one_hot ones
        ones_initializer ones_like op_scope Operation OpError OptimizerOptions OptionalSpec
        orthogonal_initializer pad PaddingFIFOQueue parallel_stack parse_example parse_single_example
        parse_single_sequence_example parse_tensor placeholder placeholder_with_default polygamma pow Print
        print PriorityQueue profiler py_func py_function python_io qint16 qint32 qint8 qr quantization
        quantize quantize_v2 quantized_concat QUANTIZED_DTYPES queue QueueBase quint16 quint8 ragged
        RaggedTensor RaggedTensorSpec random random_crop random_gamma random_normal
        random_normal_initializer random_poisson random_shuffle random_uniform random_uniform_initializer
        RandomShuffleQueue range rank read_file ReaderBase real realdiv reciprocal recompute_grad reduce_all
        reduce_any reduce_join reduce_logsumexp reduce_max reduce_mean reduce_min reduce_prod reduce_sum
        regex_replace register_tensor_conversion_function RegisterGradient repeat
        report_uninitialized_variables required_space_to_batch_paddings reset_default_graph reshape
        resource_loader resources reverse reverse_sequence reverse_v2 rint roll round rsqrt RunMetadata
        RunOptions saturate_cast saved_model scalar_mul scan scatter_add scatter_div scatter_max scatter_min
        scatter_mul scatter_nd scatter_nd_add scatter_nd_sub scatter_nd_update scatter_sub scatter_update
        searchsorted segment_max segment_mean segment_min segment_prod segment_sum self_adjoint_eig
        self_adjoint_eigvals sequence_mask serialize_many_sparse serialize_sparse serialize_tensor Session
        SessionLog set_random_seed setdiff1d sets shape shape_n sigmoid sign signal sin sinh size slice sort
        space_to_batch space_to_batch_nd space_to_depth sparse sparse_add sparse_concat
        sparse_fill_empty_rows sparse_mask sparse_matmul sparse_maximum sparse_merge sparse_minimum
        sparse_placeholder sparse_reduce_max sparse_reduce_max_sparse sparse_reduce_sum
        sparse_reduce_sum_sparse sparse_reorder sparse_reset_shape sparse_reshape sparse_retain
        sparse_segment_mean sparse_segment_sqrt_n sparse_segment_sum sparse_slice sparse_softmax
        sparse_split sparse_tensor_dense_matmul sparse_tensor_to_dense sparse_to_dense sparse_to_indicator
        sparse_transpose SparseConditionalAccumulator SparseFeature SparseTensor SparseTensorSpec
        SparseTensorValue spectral split sqrt square squared_difference squeeze stack stop_gradient
        strided_slice string string_join string_split string_strip string_to_hash_bucket
        string_to_hash_bucket_fast string_to_hash_bucket_strong string_to_number strings substr subtract
        Summary summary SummaryMetadata svd switch_case sysconfig tables_initializer tan tanh Tensor
        tensor_scatter_add tensor_scatter_nd_add tensor_scatter_nd_sub tensor_scatter_nd_update
        tensor_scatter_sub tensor_scatter_update TensorArray TensorArraySpec tensordot TensorInfo
        TensorShape TensorSpec test TextLineReader TFRecordReader tile timestamp to_bfloat16 to_complex128
        to_complex64 to_double to_float to_int32 to_int64 tpu trace train trainable_variables transpose
        truediv truncated_normal truncated_normal_initializer truncatediv truncatemod tuple TypeSpec uint16
        uint32 uint64 uint8 UnconnectedGradients uniform_unit_scaling_initializer unique unique_with_counts
        unravel_index unsorted_segment_max unsorted_segment_mean unsorted_segment_min unsorted_segment_prod
        unsorted_segment_sqrt_n unsorted_segment_sum unstack user_ops Variable
        variable_axis_size_partitioner variable_creator_scope variable_op_scope variable_scope
        VariableAggregation variables_initializer VariableScope VariableSynchronization
        variance_scaling_initializer variant VarLenFeature vectorized_map verify_tensor_all_finite VERSION
        version where where_v2 while_loop WholeFileReader wrap_function write_file xla zeros
        zeros_initializer zeros_like zeta
        """
    ),
    "tf.nn": _names(
        """
        all_candidate_sampler atrous_conv2d atrous_conv2d_transpose avg_pool avg_pool1d avg_pool2d
        avg_pool3d avg_pool_v2 batch_norm_with_global_normalization batch_normalization bias_add
        bidirectional_dynamic_rnn collapse_repeated compute_accidental_hits compute_average_loss conv1d
        conv1d_transpose conv2d conv2d_backprop_filter conv2d_backprop_input conv2d_transpose conv3d
        conv3d_backprop_filter conv3d_backprop_filter_v2 conv3d_transpose conv_transpose convolution crelu
        ctc_beam_search_decoder ctc_beam_search_decoder_v2 ctc_greedy_decoder ctc_loss ctc_loss_v2
        ctc_unique_labels depth_to_space depthwise_conv2d depthwise_conv2d_backprop_filter
        depthwise_conv2d_backprop_input depthwise_conv2d_native depthwise_conv2d_native_backprop_filter
        depthwise_conv2d_native_backprop_input dilation2d dropout dynamic_rnn elu embedding_lookup
        embedding_lookup_sparse erosion2d fixed_unigram_candidate_sampler fractional_avg_pool
        fractional_max_pool fused_batch_norm in_top_k l2_loss l2_normalize leaky_relu
        learned_unigram_candidate_sampler local_response_normalization log_poisson_loss log_softmax
        log_uniform_candidate_sampler lrn max_pool max_pool1d max_pool2d max_pool3d max_pool_v2
        max_pool_with_argmax moments nce_loss normalize_moments pool quantized_avg_pool quantized_conv2d
        quantized_max_pool quantized_relu_x raw_rnn relu relu6 relu_layer rnn_cell
        safe_embedding_lookup_sparse sampled_softmax_loss scale_regularization_loss selu separable_conv2d
        sigmoid sigmoid_cross_entropy_with_logits softmax softmax_cross_entropy_with_logits
        softmax_cross_entropy_with_logits_v2 softplus softsign space_to_batch space_to_depth
        sparse_softmax_cross_entropy_with_logits static_bidirectional_rnn static_rnn static_state_saving_rnn
        sufficient_statistics swish tanh top_k uniform_candidate_sampler weighted_cross_entropy_with_logits
        weighted_moments with_space_to_batch xw_plus_b zero_fraction
        """
    ),
    "tf.train": _names(
        """
        AdadeltaOptimizer AdagradDAOptimizer AdagradOptimizer AdamOptimizer add_queue_runner
        assert_global_step basic_train_loop batch batch_join BytesList Checkpoint checkpoint_exists
        CheckpointManager checkpoints_iterator CheckpointSaverHook CheckpointSaverListener
        ChiefSessionCreator ClusterDef ClusterSpec Coordinator cosine_decay cosine_decay_restarts
        create_global_step do_quantize_training_on_graphdef Example experimental exponential_decay
        ExponentialMovingAverage export_meta_graph Feature FeatureList FeatureLists Features FeedFnHook
        FinalOpsHook FloatList FtrlOptimizer generate_checkpoint_state_proto get_checkpoint_mtimes
        get_checkpoint_state get_global_step get_or_create_global_step global_step GlobalStepWaiterHook
        GradientDescentOptimizer import_meta_graph init_from_checkpoint input_producer Int64List
        inverse_time_decay JobDef latest_checkpoint limit_epochs linear_cosine_decay list_variables
        load_checkpoint load_variable LoggingTensorHook LooperThread match_filenames_once maybe_batch
        maybe_batch_join maybe_shuffle_batch maybe_shuffle_batch_join MomentumOptimizer MonitoredSession
        MonitoredTrainingSession NanLossDuringTrainingError NanTensorHook natural_exp_decay
        noisy_linear_cosine_decay Optimizer piecewise_constant piecewise_constant_decay polynomial_decay
        ProfilerHook ProximalAdagradOptimizer ProximalGradientDescentOptimizer queue_runner QueueRunner
        range_input_producer remove_checkpoint replica_device_setter RMSPropOptimizer Saver SaverDef
        Scaffold sdca_fprint sdca_optimizer sdca_shrink_l1 SecondOrStepTimer SequenceExample Server
        ServerDef SessionCreator SessionManager SessionRunArgs SessionRunContext SessionRunHook
        SessionRunValues shuffle_batch shuffle_batch_join SingularMonitoredSession slice_input_producer
        start_queue_runners StepCounterHook StopAtStepHook string_input_producer summary_iterator
        SummarySaverHook Supervisor SyncReplicasOptimizer update_checkpoint_state VocabInfo warm_start
        WorkerSessionCreator write_graph
        """
    ),
    "tf.layers": _names(
        """
        average_pooling1d average_pooling2d average_pooling3d AveragePooling1D AveragePooling2D
        AveragePooling3D batch_normalization BatchNormalization Conv1D conv1d Conv2D conv2d conv2d_transpose
        Conv2DTranspose Conv3D conv3d conv3d_transpose Conv3DTranspose Dense dense Dropout dropout
        experimental Flatten flatten InputSpec Layer max_pooling1d max_pooling2d max_pooling3d MaxPooling1D
        MaxPooling2D MaxPooling3D separable_conv1d separable_conv2d SeparableConv1D SeparableConv2D
        """
    ),
    "tf.losses": _names(
        """
        absolute_difference add_loss compute_weighted_loss cosine_distance get_losses
        get_regularization_loss get_regularization_losses get_total_loss hinge_loss huber_loss log_loss
        mean_pairwise_squared_error mean_squared_error Reduction sigmoid_cross_entropy softmax_cross_entropy
        sparse_softmax_cross_entropy
        """
    ),
    "tf.image": _names(
        """
        adjust_brightness adjust_contrast adjust_gamma adjust_hue adjust_jpeg_quality adjust_saturation
        central_crop combined_non_max_suppression convert_image_dtype crop_and_resize crop_to_bounding_box
        decode_and_crop_jpeg decode_bmp decode_gif decode_image decode_jpeg decode_png draw_bounding_boxes
        encode_jpeg encode_png extract_glimpse extract_image_patches extract_jpeg_shape extract_patches
        flip_left_right flip_up_down grayscale_to_rgb hsv_to_rgb image_gradients is_jpeg non_max_suppression
        non_max_suppression_overlaps non_max_suppression_padded non_max_suppression_with_scores
        pad_to_bounding_box per_image_standardization psnr random_brightness random_contrast random_crop
        random_flip_left_right random_flip_up_down random_hue random_jpeg_quality random_saturation resize
        resize_area resize_bicubic resize_bilinear resize_image_with_crop_or_pad resize_image_with_pad
        resize_images resize_nearest_neighbor resize_with_crop_or_pad ResizeMethod rgb_to_grayscale
        rgb_to_hsv rgb_to_yiq rgb_to_yuv rot90 sample_distorted_bounding_box sobel_edges ssim
        ssim_multiscale total_variation transpose transpose_image yiq_to_rgb yuv_to_rgb
        """
    ),
    "tf.math": _names(
        """
        abs accumulate_n acos acosh add add_n angle argmax argmin asin asinh atan atan2 atanh bessel_i0
        bessel_i0e bessel_i1 bessel_i1e betainc bincount ceil confusion_matrix conj cos cosh count_nonzero
        cumprod cumsum cumulative_logsumexp digamma divide divide_no_nan equal erf erfc exp expm1 floor
        floordiv floormod greater greater_equal igamma igammac imag in_top_k invert_permutation is_finite
        is_inf is_nan is_non_decreasing is_strictly_increasing l2_normalize lbeta less less_equal lgamma log
        log1p log_sigmoid log_softmax logical_and logical_not logical_or logical_xor maximum minimum mod
        multiply multiply_no_nan negative nextafter not_equal polygamma polyval pow real reciprocal
        reciprocal_no_nan reduce_all reduce_any reduce_euclidean_norm reduce_logsumexp reduce_max
        reduce_mean reduce_min reduce_prod reduce_std reduce_sum reduce_variance rint round rsqrt scalar_mul
        segment_max segment_mean segment_min segment_prod segment_sum sigmoid sign sin sinh softmax softplus
        softsign sqrt square squared_difference subtract tan tanh top_k truediv unsorted_segment_max
        unsorted_segment_mean unsorted_segment_min unsorted_segment_prod unsorted_segment_sqrt_n
        unsorted_segment_sum xdivy xlogy zero_fraction zeta
        """
    ),
    "tf.linalg": _names(
        """
        adjoint band_part cholesky cholesky_solve cross det diag diag_part eigh eigvalsh einsum experimental
        expm eye global_norm inv l2_normalize LinearOperator LinearOperatorDiag LinearOperatorFullMatrix
        LinearOperatorIdentity LinearOperatorLowerTriangular logdet logm lstsq lu matmul matrix_transpose
        matvec norm normalize qr set_diag slogdet solve sqrtm svd tensor_diag tensor_diag_part tensordot
        trace transpose triangular_solve tridiagonal_solve
        """
    ),
    "tf.random": _names(
        """
        all_candidate_sampler categorical experimental fixed_unigram_candidate_sampler gamma get_seed
        learned_unigram_candidate_sampler log_uniform_candidate_sampler multinomial normal poisson
        set_random_seed shuffle stateless_categorical stateless_multinomial stateless_normal
        stateless_truncated_normal stateless_uniform truncated_normal uniform uniform_candidate_sampler
        """
    ),
    "tf.summary": _names(
        """
        all_v2_summary_ops audio Event FileWriter FileWriterCache get_summary_description histogram image
        initialize merge merge_all scalar SessionLog Summary SummaryDescription SummaryMetadata
        TaggedRunMetadata tensor_summary text
        """
    ),
    "tf.metrics": _names(
        """
        accuracy auc average_precision_at_k false_negatives false_negatives_at_thresholds false_positives
        false_positives_at_thresholds mean mean_absolute_error mean_cosine_distance mean_iou
        mean_per_class_accuracy mean_relative_error mean_squared_error mean_tensor percentage_below
        precision precision_at_k precision_at_thresholds precision_at_top_k recall recall_at_k
        recall_at_thresholds recall_at_top_k root_mean_squared_error sensitivity_at_specificity
        sparse_average_precision_at_k sparse_precision_at_k specificity_at_sensitivity true_negatives
        true_negatives_at_thresholds true_positives true_positives_at_thresholds
        """
    ),
    "tf.data": _names(
        """
        Dataset DatasetSpec experimental FixedLengthRecordDataset get_output_classes get_output_shapes
        get_output_types Iterator make_initializable_iterator make_one_shot_iterator Options TextLineDataset
        TFRecordDataset
        """
    ),
    "tf.initializers": _names(
        """
        constant global_variables glorot_normal glorot_uniform he_normal he_uniform identity lecun_normal
        lecun_uniform local_variables ones orthogonal random_normal random_uniform tables_initializer
        truncated_normal uniform_unit_scaling variables variance_scaling zeros
        """
    ),
}

# Why some families of names are left out, and what to use instead.
_QUEUES = "queues and readers are left out: use tf.data"
_SPARSE = "sparse tensors are left out: graphc's tensors and gradients are dense"
_SEGMENTS = "use tf.one_hot of the segment ids and a matmul or reduce_sum"
_HINTS: dict[str, str] = {
    **dict.fromkeys(
        [
            "FIFOQueue",
            "PaddingFIFOQueue",
            "PriorityQueue",
            "QueueBase",
            "RandomShuffleQueue",
            "QueueRunner",
            "add_queue_runner",
            "start_queue_runners",
            "string_input_producer",
            "input_producer",
            "range_input_producer",
            "slice_input_producer",
            "shuffle_batch",
            "shuffle_batch_join",
            "batch",
            "batch_join",
            "TFRecordReader",
            "TextLineReader",
            "WholeFileReader",
            "FixedLengthRecordReader",
            "IdentityReader",
            "LMDBReader",
            "ReaderBase",
            "Coordinator",
        ],
        _QUEUES,
    ),
    **dict.fromkeys(
        [
            "SparseTensor",
            "SparseTensorValue",
            "sparse_placeholder",
            "sparse_tensor_to_dense",
            "sparse_to_dense",
            "sparse_tensor_dense_matmul",
            "IndexedSlices",
            "embedding_lookup_sparse",
            "safe_embedding_lookup_sparse",
        ],
        _SPARSE,
    ),
    **dict.fromkeys(
        ["segment_sum", "unsorted_segment_sum", "segment_mean", "unsorted_segment_mean"], _SEGMENTS
    ),
    "contrib": "tf.contrib is left out, but for a few tf.contrib.layers and tf.contrib.framework names",
    "estimator": "write the training loop with tf.Session and tf.train's optimizers",
    "enable_eager_execution": "graphc builds graphs and runs them in a tf.Session (TF1's default mode)",
    "executing_eagerly": "graphc always builds graphs (TF1's default mode)",
    "MonitoredTrainingSession": "use tf.Session, tf.train.Saver and tf.summary.FileWriter",
    "MonitoredSession": "use tf.Session, tf.train.Saver and tf.summary.FileWriter",
    "Supervisor": "use tf.Session, tf.train.Saver and tf.summary.FileWriter",
    "import_meta_graph": "rebuild the graph in Python and restore with tf.train.Saver",
    "export_meta_graph": "graphc writes no meta graphs: keep the Python that builds the graph",
}


def tf1_message(qualified: str, name: str) -> str:
    """The message for TF1's ``qualified.name`` that graphc does not provide."""
    hint = _HINTS.get(name)
    advice = f" ({hint})" if hint else ""
    return f"{qualified}.{name} is a TF1 name that graphc does not provide{advice}. See {README_SECTION}."


def make_getattr(module: types.ModuleType, qualified: str) -> Callable[[str], Any]:
    """The module-level ``__getattr__`` for ``module``, whose TF1 path is ``qualified``
    ("tf", "tf.nn", ...). A ``__getattr__`` the module already has is asked first."""
    names = TF1_NAMES.get(qualified, frozenset())
    previous = module.__dict__.get("__getattr__")

    def __getattr__(name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(
                f"module {module.__name__!r} has no attribute {name!r}", name=name, obj=module
            )
        if previous is not None:
            try:
                return previous(name)
            except AttributeError:
                # The module's own error stands, but for a TF1 name, which gets the message below.
                if name not in names:
                    raise
        if name in names:
            # obj set and name left None: Python then adds no "Did you mean" guess.
            raise AttributeError(tf1_message(qualified, name), obj=module)
        raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}", name=name, obj=module)

    __getattr__.__qualname__ = __getattr__.__name__
    __getattr__.__module__ = module.__name__
    __getattr__._tf1_path = qualified  # type: ignore[attr-defined]
    return __getattr__


def install(module: types.ModuleType, qualified: str) -> None:
    """Give ``module`` (TF1's ``qualified``) the ``__getattr__`` above; installing twice
    keeps one."""
    current = module.__dict__.get("__getattr__")
    if getattr(current, "_tf1_path", None) == qualified:
        return
    module.__getattr__ = make_getattr(module, qualified)  # type: ignore[method-assign]


def install_all(tf: types.ModuleType) -> None:
    """Install on graphc itself ("tf") and on each of its submodules listed in TF1_NAMES."""
    install(tf, "tf")
    for qualified in TF1_NAMES:
        if qualified == "tf":
            continue
        sub = tf.__dict__.get(qualified.split(".", 1)[1])
        if isinstance(sub, types.ModuleType):
            install(sub, qualified)
