"""Writes onnx/model_quantized.onnx beside a model folder's onnx/model.onnx:
dynamic int8 quantization of every MatMul whose weight is a constant, the
same operator pattern onnxruntime.quantization.quantize_dynamic writes (and
so the form Hugging Face / Xenova exports ship as model_quantized.onnx):

    DynamicQuantizeLinear(x) -> MatMulInteger(x_q, w_q, x_zp, w_zp)
        -> Cast(float) -> Mul(x_scale * w_scale)

Weights are int8, symmetric, one scale per output column; activations are
uint8 with a scale and zero point computed per run. ONNX Runtime fuses the
pattern into its DynamicQuantizeMatMul kernel. It uses only the onnx package
and numpy (the test venv, scripts/setup-test.sh), so what it writes is
spelled out here rather than left to a quantizer's version.

    .cache/venv/bin/python scripts/quantize_model.py MODEL_DIR
"""
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def quantize(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes, new_inits, count = [], [], 0
    for node in graph.node:
        w = inits.get(node.input[1]) if node.op_type == "MatMul" else None
        if w is None or len(w.dims) != 2:
            nodes.append(node)
            continue
        count += 1
        wf = numpy_helper.to_array(w).astype(np.float32)  # [K, N]
        scale = np.abs(wf).max(axis=0) / 127.0  # one scale per output column
        scale[scale == 0] = 1.0
        wq = np.clip(np.round(wf / scale), -127, 127).astype(np.int8)
        p = f"{node.name or node.output[0]}_q"
        new_inits += [
            numpy_helper.from_array(wq, p + "_w"),
            numpy_helper.from_array(scale.astype(np.float32), p + "_w_scale"),
            numpy_helper.from_array(np.zeros(wf.shape[1], np.int8), p + "_w_zp"),
        ]
        x = node.input[0]
        nodes += [
            helper.make_node("DynamicQuantizeLinear", [x], [p + "_x", p + "_x_scale", p + "_x_zp"], name=p + "_dql"),
            helper.make_node("MatMulInteger", [p + "_x", p + "_w", p + "_x_zp", p + "_w_zp"], [p + "_i32"], name=p + "_mmi"),
            helper.make_node("Cast", [p + "_i32"], [p + "_f"], to=TensorProto.FLOAT, name=p + "_cast"),
            helper.make_node("Mul", [p + "_x_scale", p + "_w_scale"], [p + "_scale"], name=p + "_scale_mul"),
            helper.make_node("Mul", [p + "_f", p + "_scale"], [node.output[0]], name=p + "_out_mul"),
        ]
    quantized = {n.input[1] for n in graph.node if n.op_type == "MatMul" and n.input[1] in inits and len(inits[n.input[1]].dims) == 2}
    still_used = {i for n in nodes for i in n.input}
    keep = [i for i in graph.initializer if i.name not in quantized or i.name in still_used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(keep + new_inits)
    # MatMulInteger and DynamicQuantizeLinear are opset 10 and 11 operators.
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx") and o.version < 11:
            o.version = 11
    return model, count


def main() -> None:
    folder = Path(sys.argv[1])
    src, dst = folder / "onnx" / "model.onnx", folder / "onnx" / "model_quantized.onnx"
    model, count = quantize(onnx.load(str(src)))
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    print(f"{dst}: {count} MatMul weights to int8, {src.stat().st_size:,} -> {dst.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
