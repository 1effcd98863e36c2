#!/usr/bin/env python3
"""A Chorus command generator: a face from a real neural network (DCGAN), seeded by the prompt.

    .venv-neural/bin/python agents/neural/gan_face.py < request.json > face.png

Reads the request from stdin (JSON such as {"prompt": "a lighthouse at dusk"}; anything that is not JSON is
taken whole as the prompt), and writes one PNG to stdout: a 256x256 RGB face.

UNCONDITIONAL: the generator is the DCGAN from the `gan-face-generate` package (trained on DigiFace1M; its
weights ship inside the wheel). It knows nothing about text. The prompt only picks the random latent vector:
sha256(prompt) seeds torch and numpy, so the same prompt always gives the same face, a different prompt gives a
different face, and "a lighthouse at dusk" gives a face too. No text-to-image weights can be installed offline
on these machines (docs/GENERATORS.md); this is a real neural image, not a picture of the prompt.

The network makes 64x64 images; Pillow upscales them to 256x256 (bicubic). Runs on the CPU with one thread
(OMP_NUM_THREADS=1); the inference itself takes ~15 ms, the rest of a call is importing torch (~2-4 s).
Exit status: 0 with the PNG on stdout; 1 with a message on stderr.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # one thread: on 2 busy cores more threads collapse torch
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import hashlib
import io
import json
import sys
from pathlib import Path

SIZE = 256  # the PNG's width and height
NZ, NGF, NC = 100, 64, 3  # the package's generator: 100-d latent, 64 feature maps, RGB


def prompt_of(raw: bytes) -> str:
    """The request's `prompt`, or the whole input when it is not a JSON object with one."""
    text = raw.decode("utf-8", errors="replace")
    try:
        request = json.loads(text)
    except ValueError:
        return text
    if isinstance(request, dict) and isinstance(request.get("prompt"), str):
        return request["prompt"]
    return text


def seed_of(prompt: str) -> int:
    """A 63-bit seed from the SHA-256 of the prompt's UTF-8 bytes."""
    return int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:8], "big") >> 1


def face_png(prompt: str) -> bytes:
    import numpy as np
    import torch
    from PIL import Image

    import gan_face_generate
    from gan_face_generate.models import Generator

    torch.set_num_threads(1)
    seed = seed_of(prompt)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)

    weights = Path(gan_face_generate.__file__).parent / "weights.tar"  # a torch.save checkpoint, not a tar
    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    net = Generator(0, NC, NZ, NGF)
    net.load_state_dict(checkpoint["netG_state_dict"])
    net.eval()

    latent = torch.randn(1, NZ, 1, 1, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        image = net(latent)[0]  # 3 x 64 x 64, tanh output in [-1, 1]
    pixels = ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    face = Image.fromarray(np.ascontiguousarray(pixels), "RGB").resize((SIZE, SIZE), Image.BICUBIC)
    out = io.BytesIO()
    face.save(out, format="PNG", optimize=True)
    return out.getvalue()


def main() -> int:
    try:
        png = face_png(prompt_of(sys.stdin.buffer.read()))
    except Exception as error:  # one line for the agent's error message, not a traceback
        print(f"gan_face.py: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(png)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
