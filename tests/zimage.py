"""A tiny random-weight Z-Image pipeline (about 4 MB) saved in the `save_pretrained` layout.

Tests load it through the same `from_pretrained` path that users hit with the real model, so the generator is
exercised end to end without the Hub. Every component is the real diffusers/transformers class at toy size.
"""

from __future__ import annotations

from pathlib import Path

# Qwen3-style chat template, reduced to what ZImagePipeline uses: one user turn, a generation prompt and the
# `enable_thinking` switch.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
CORPUS = [
    "a stop sign on the road",
    "a warning sign on the road, rain, dusk, seen from the sidewalk, far away, photo",
    "a red octagon with white letters, a yellow triangle with a black border",
    "clear sky, overcast, fog, snow, midday sun, golden hour, night with street lights",
    "user assistant think 0123456789",
]


def build_tokenizer(corpus: list[str] = CORPUS, vocab_size: int = 400):
    """A byte-level BPE tokenizer trained offline on `corpus`, with a pad token and a Qwen3-style chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
        chat_template=CHAT_TEMPLATE,
        padding_side="right",
    )


# Component configs at toy size; the benchmark has the full-size ones. Constraints: dim / n_heads ==
# sum(axes_dims), cap_feat_dim == text encoder hidden_size, VAE latent_channels == transformer in_channels.
TINY_TRANSFORMER = {
    "dim": 32,
    "n_layers": 2,
    "n_refiner_layers": 1,
    "n_heads": 2,
    "n_kv_heads": 2,
    "cap_feat_dim": 16,
    "axes_dims": [8, 4, 4],
    "axes_lens": [256, 32, 32],
}
TINY_VAE = {"block_out_channels": [32, 64], "layers_per_block": 1, "sample_size": 32}
TINY_TEXT_ENCODER = {
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "max_position_embeddings": 512,
}


def make_zimage(transformer: dict, vae: dict, text_encoder: dict, tokenizer=None, dtype=None, device="cpu"):
    """A random-weight ZImagePipeline from component configs, its models built directly on `device`.

    Each model is cast to `dtype` as soon as it is built, so at most one model is held in float32 at a time.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        ZImagePipeline,
        ZImageTransformer2DModel,
    )
    from transformers import Qwen3Config, Qwen3Model

    dtype = dtype or torch.float32
    tokenizer = tokenizer or build_tokenizer()
    blocks = len(vae["block_out_channels"])
    with torch.device(device):
        vae_model = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D"] * blocks,
            up_block_types=["UpDecoderBlock2D"] * blocks,
            latent_channels=16,
            norm_num_groups=32,
            scaling_factor=0.3611,
            shift_factor=0.1159,
            use_quant_conv=False,
            use_post_quant_conv=False,
            **vae,
        ).to(dtype)
        transformer_model = ZImageTransformer2DModel(in_channels=16, **transformer).to(dtype)
        config = {"vocab_size": len(tokenizer)} | text_encoder | {"pad_token_id": tokenizer.pad_token_id}
        text_encoder_model = Qwen3Model(Qwen3Config(**config)).to(dtype)
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False
    )
    return ZImagePipeline(
        scheduler=scheduler,
        vae=vae_model,
        text_encoder=text_encoder_model,
        tokenizer=tokenizer,
        transformer=transformer_model,
    )


def build_tiny_zimage(folder: Path) -> Path:
    """Build the tiny pipeline (seeded, so always the same weights) and save it to `folder`."""
    import torch

    torch.manual_seed(0)
    pipe = make_zimage(TINY_TRANSFORMER, TINY_VAE, TINY_TEXT_ENCODER)
    folder = Path(folder)
    pipe.save_pretrained(folder)
    return folder


if __name__ == "__main__":
    import sys

    print(build_tiny_zimage(Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-zimage")))
