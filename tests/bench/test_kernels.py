"""oneDNN's verbose log summarised: the ISA it dispatched to and each primitive's implementation."""

import pytest

from kzoo.bench.kernels import parse_verbose

# Lines as TensorFlow 2's bundled oneDNN 3.7 prints them (ONEDNN_VERBOSE=1), with other output mixed
# in; the older unversioned form (no "v1,primitive") is accepted too.
LOG = """\
onednn_verbose,v1,info,oneDNN v3.7.3 (commit N/A)
onednn_verbose,v1,info,cpu,runtime:threadpool,nthr:2
onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with Intel DL Boost and bfloat16 support
onednn_verbose,v1,primitive,info,template:operation,engine,primitive,implementation,prop_kind,memory_descriptors,attributes,auxiliary,problem_desc,exec_time
Epoch 1/1 (something the program printed)
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core_bf16,forward_training,src:bf16::blocked:acdb::f0 wei:bf16:a:blocked:Acdb16a::f0,attr-scratchpad:user,alg:convolution_direct,mb16_ic3oc16_ih8oh6kh3,1.5
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core_bf16,forward_training,src:bf16::blocked:acdb::f0,,alg:convolution_direct,mb16_ic16oc16_ih8oh6kh3,2.5
onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core_bf16,backward_weights,src:bf16::blocked:acdb::f0,,alg:convolution_direct,mb16_ic3oc16,6.0
onednn_verbose,v1,primitive,exec,cpu,gemm_api,,undef,src_f32::blocked:ba:f0,,,576x16:16x4,0.5
onednn_verbose,v1,primitive,create:cache_miss,cpu,reorder,jit:uni,undef,src:f32::blocked:cdba::f0,,,16x3x3x3,0.1
onednn_verbose,v1,graph,info,template:operation,engine,partition_id,partition_kind,op_names
dnnl_verbose,exec,cpu,pooling,jit:avx512_core,forward_inference,src_bf16::blocked:acdb:f0,,alg:pooling_max,mb16ic16_ih8oh4kh2,not-a-time
"""


def test_the_log_names_the_isa_the_version_and_each_kernel_by_its_time():
    summary = parse_verbose(LOG)
    assert summary["version"] == "oneDNN v3.7.3"
    assert summary["isa"] == "Intel AVX-512 with Intel DL Boost and bfloat16 support"
    assert summary["executions"] == 5  # "create" lines are not executions
    assert summary["total_ms"] == pytest.approx(10.5)
    rows = [(r["primitive"], r["pass"], r["implementation"], r["isa"], r["calls"], r["ms"])
            for r in summary["kernels"]]
    assert rows == [
        ("convolution", "backward_weights", "jit:avx512_core_bf16", "avx512_core_bf16", 1, 6.0),
        ("convolution", "forward_training", "brg_conv_fwd:avx512_core_bf16", "avx512_core_bf16", 2,
         4.0),
        ("gemm_api", "undef", "-", None, 1, 0.5),
        ("pooling", "forward_inference", "jit:avx512_core", "avx512_core", 1, 0.0),  # no time
    ]
    assert summary["kernels"][0]["share"] == pytest.approx(6.0 / 10.5)
    assert len(parse_verbose(LOG, top=2)["kernels"]) == 2


def test_only_executions_after_the_last_mark_are_counted():
    marked = LOG.replace("Epoch 1/1", "onednn_verbose,v1,primitive,exec,cpu,gemm_api,,undef,,,,3x5:5x7,0.1")
    summary = parse_verbose(marked, after="3x5:5x7")
    assert summary["version"] == "oneDNN v3.7.3" and summary["isa"].startswith("Intel AVX-512")
    assert summary["executions"] == 5 and summary["total_ms"] == pytest.approx(10.5)  # not the mark
    twice = parse_verbose(marked + marked, after="3x5:5x7")
    assert twice["executions"] == 5  # from the last mark only
    assert parse_verbose(LOG, after="3x5:5x7")["executions"] == 5  # no mark: every execution


def test_a_log_without_onednn_lines_names_nothing():
    summary = parse_verbose("no verbose output here\n")
    assert (summary["version"], summary["isa"], summary["executions"]) == (None, None, 0)
    assert summary["kernels"] == [] and summary["total_ms"] == 0
