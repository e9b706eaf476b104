"""The 3D convolutional U-Net of 3D-PIUNet (Morik et al., IEEE TMI 2025)."""

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of :class:`UNet3D`.

    The defaults are the paper's network (about 11 M parameters).

    Parameters
    ----------
    in_channels : int
        Input channels (3: the x/y/z dipole moment).
    out_channels : int
        Output channels.
    base_channels : int
        Channels at the finest level.
    channel_mults : tuple of int
        Channel multiplier per level; the grid is halved between levels.
    num_res_blocks : int
        Residual blocks per level on the way down (one more on the way up).
    attention_levels : tuple of int
        Levels (indices into ``channel_mults``) with self-attention after
        each residual block. The bottleneck always has attention when this is
        not empty.
    num_groups : int
        Groups of the GroupNorm layers (must divide every channel count).
    num_heads : int
        Attention heads.
    """

    in_channels: int = 3
    out_channels: int = 3
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 2
    attention_levels: tuple[int, ...] = (2,)
    num_groups: int = 8
    num_heads: int = 4

    def __post_init__(self):
        object.__setattr__(self, "channel_mults", tuple(self.channel_mults))
        object.__setattr__(self, "attention_levels", tuple(self.attention_levels))
        for mult in self.channel_mults:
            if (self.base_channels * mult) % self.num_groups:
                raise ValueError(
                    f"num_groups={self.num_groups} must divide every level's "
                    f"channels, got base_channels={self.base_channels} and "
                    f"channel_mults={self.channel_mults}"
                )
        bad = [lv for lv in self.attention_levels if not 0 <= lv < self.n_levels]
        if bad:
            raise ValueError(
                f"attention_levels must be in 0..{self.n_levels - 1}, got {bad}"
            )

    @property
    def n_levels(self) -> int:
        """Number of resolution levels."""
        return len(self.channel_mults)

    @property
    def size_factor(self) -> int:
        """Every grid side must be a multiple of this."""
        return 2 ** (self.n_levels - 1)

    def to_dict(self) -> dict:
        """Return the configuration as a JSON-friendly dict."""
        out = asdict(self)
        out["channel_mults"] = list(self.channel_mults)
        out["attention_levels"] = list(self.attention_levels)
        return out


class _ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv3d(in_ch, out_ch, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.conv2 = nn.Conv3d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv3d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class _Attention(nn.Module):
    """Multi-head self-attention over all voxels of a (coarse) volume."""

    def __init__(self, ch, groups, heads):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Conv3d(ch, 3 * ch, 1)
        self.proj = nn.Conv3d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, -1)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # each (b, heads, voxels, dim)
        h = F.scaled_dot_product_attention(q, k, v)  # (b, heads, n, c/heads)
        h = h.transpose(-1, -2).reshape(b, c, *spatial)
        return x + self.proj(h)


class UNet3D(nn.Module):
    """3D U-Net with residual blocks, GroupNorm/SiLU and coarse attention.

    Parameters
    ----------
    config : UNetConfig | None
        The architecture; ``None`` uses the paper's defaults.
    """

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        self.config = cfg = config if config is not None else UNetConfig()
        chans = [cfg.base_channels * m for m in cfg.channel_mults]
        g = cfg.num_groups
        self.stem = nn.Conv3d(cfg.in_channels, chans[0], 3, padding=1)
        self.down = nn.ModuleList()
        skip_chans = [chans[0]]
        ch = chans[0]
        for level, out_ch in enumerate(chans):
            for _ in range(cfg.num_res_blocks):
                self.down.append(self._block(ch, out_ch, level))
                ch = out_ch
                skip_chans.append(ch)
            if level < cfg.n_levels - 1:
                self.down.append(nn.Conv3d(ch, ch, 3, stride=2, padding=1))
                skip_chans.append(ch)
        use_mid_attn = bool(cfg.attention_levels)
        self.mid = nn.Sequential(
            _ResBlock(ch, ch, g),
            _Attention(ch, g, cfg.num_heads) if use_mid_attn else nn.Identity(),
            _ResBlock(ch, ch, g),
        )
        self.up = nn.ModuleList()
        for level in reversed(range(cfg.n_levels)):
            for i in range(cfg.num_res_blocks + 1):
                self.up.append(self._block(ch + skip_chans.pop(), chans[level], level))
                ch = chans[level]
                if level > 0 and i == cfg.num_res_blocks:
                    self.up.append(_Upsample(ch))
        self.head = nn.Sequential(
            nn.GroupNorm(g, ch),
            nn.SiLU(),
            nn.Conv3d(ch, cfg.out_channels, 3, padding=1),
        )

    @property
    def size_factor(self) -> int:
        """Every grid side must be a multiple of this."""
        return self.config.size_factor

    def _block(self, in_ch, out_ch, level):
        cfg = self.config
        block = _ResBlock(in_ch, out_ch, cfg.num_groups)
        if level in cfg.attention_levels:
            return nn.Sequential(
                block, _Attention(out_ch, cfg.num_groups, cfg.num_heads)
            )
        return block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a batch of volumes (batch, 3, X, Y, Z) to refined volumes."""
        factor = self.size_factor
        if any(s % factor for s in x.shape[2:]):
            raise ValueError(
                f"Grid sides must be multiples of {factor} for this network, "
                f"got {tuple(x.shape[2:])}"
            )
        h = self.stem(x)
        skips = [h]
        for layer in self.down:
            h = layer(h)
            skips.append(h)
        h = self.mid(h)
        for layer in self.up:
            if isinstance(layer, _Upsample):
                h = layer(h)
            else:
                h = layer(torch.cat([h, skips.pop()], dim=1))
        return self.head(h)


class _Upsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv3d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UNetEnsemble(nn.Module):
    """Weighted mean of the outputs of several U-Nets (a deep ensemble).

    Networks trained with different losses err in different ways (for
    example a small one that keeps many sources apart and a larger one that
    places focal sources well); the mean of their maps keeps much of what
    each does well (see the benchmarks page of the documentation).

    Parameters
    ----------
    members : list of UNet3D
        The networks, all for the same grid.
    weights : tuple of float | None
        Positive weight of each member, normalised to sum to 1; ``None``
        weighs them equally.
    """

    def __init__(
        self,
        members: list[torch.nn.Module],
        weights: tuple[float, ...] | list[float] | None = None,
    ):
        super().__init__()
        members = list(members)
        if not members or not all(isinstance(m, UNet3D) for m in members):
            raise TypeError(
                f"members must be a non-empty list of UNet3D, got "
                f"{[type(m).__name__ for m in members]}"
            )
        weights = (1.0,) * len(members) if weights is None else tuple(weights)
        if len(weights) != len(members) or not all(w > 0 for w in weights):
            raise ValueError(
                f"weights must be {len(members)} positive numbers, got {weights}"
            )
        self.members = nn.ModuleList(members)
        self.weights = tuple(float(w) / sum(weights) for w in weights)

    @property
    def size_factor(self) -> int:
        """Every grid side must be a multiple of this (for every member)."""
        return max(m.size_factor for m in self.members)  # powers of 2

    def to_dict(self) -> dict:
        """Return the members' configurations and the weights, JSON-friendly."""
        return {
            "members": [m.config.to_dict() for m in self.members],
            "weights": list(self.weights),
        }

    @classmethod
    def from_dict(cls, config: dict) -> "UNetEnsemble":
        """Build an ensemble with untrained members from :meth:`to_dict`'s output."""
        members = [UNet3D(UNetConfig(**c)) for c in config["members"]]
        return cls(members, config["weights"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a batch of volumes (batch, 3, X, Y, Z) to the members' weighted mean."""
        out = self.weights[0] * self.members[0](x)
        for weight, member in zip(self.weights[1:], self.members[1:], strict=True):
            out = out + weight * member(x)
        return out
