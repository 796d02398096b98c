"""The visual path of PVO: a sliding keyframe window, dense flow, panoptic-aware dense BA and VO <-> VPS rounds.

Poses are DROID-SLAM's ``G_i`` (VO world -> camera i), the VO world being the camera of the first
keyframe since the last (re)start. Per edge ii -> jj and pixel p the confidence is

    w = sigmoid(l + (1 - M_d(p)) eta)          (PVO; without the panoptic term: sigmoid(l))
    l = logit_prior + log(c_fb) - min((r / residual_scale)^2, max_residual_penalty)

The classical front end has no learned update operator, so ``l`` stands in for its confidence logits:
``c_fb`` is the flow's forward-backward confidence, ``r`` the reprojection residual of the current
estimate (re-evaluated before every Gauss-Newton step, like the operator's revisions), and
``logit_prior`` = -(eta + 2) keeps even boosted static pixels in the sigmoid's near-linear range
(sigmoid(-2 + log c) ~ 0.12 c), so static pixels are weighted in proportion to their flow confidence
exactly as without the panoptic term, while dynamic pixels end up e^eta (2.2e4) times lighter. With a
prior of -eta / 2 the boost saturated every static pixel at ~1, the confidence no longer told good
flow from bad, and the static-scene error grew by 60 % over the baseline (30-frame static sequence).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .config import OdometryConfig
from .dense_ba import BAProblem, ba_step, schur_system
from .flow_frontend import FlowEstimator
from .frame_graph import FrameGraph, mean_flow_magnitude
from .projective_ops import pixel_grid, projective_transform
from .reduced_grid import NO_LABEL, ReducedGrid, dynamic_pixels
from .vps import fuse_panoptic, warp_labels

DT = torch.float32


@dataclass
class Keyframe:
    frame_id: int
    image: np.ndarray  # grey, flow resolution
    pose: torch.Tensor  # (7,) G: VO world -> camera
    disps: torch.Tensor  # (H, W) inverse depth estimate [1/m]
    disps_sens: torch.Tensor  # (H, W) projected LiDAR inverse depth, 0 where none
    class_id: np.ndarray  # (H, W) temporally fused panoptic classes (NO_LABEL = none)
    instance_id: np.ndarray  # (H, W) track / instance ids


@dataclass
class WindowEstimate:
    pose: torch.Tensor  # (7,) G of the new frame
    covariance: np.ndarray  # (6, 6) of the left perturbation of G
    keyframe: bool
    static_share: float  # share of the new frame's edge pixels whose flow is confident and fits the estimate
    dynamic_share: float  # share of the new frame's pixels in M_d
    class_id: np.ndarray  # (H, W) fused panoptic of the new frame
    instance_id: np.ndarray
    steps: int


@dataclass
class _Edges:
    ii: torch.Tensor
    jj: torch.Tensor
    target: torch.Tensor  # (E, H, W, 2)
    log_conf: torch.Tensor  # (E, H, W)


class VisualWindow:
    """Keyframes, their pairwise flows, and one ``track`` call per new frame."""

    def __init__(self, config: OdometryConfig, flow: FlowEstimator, grid: ReducedGrid, thing_ids: tuple[int, ...]) -> None:
        self.cfg, self.flow, self.grid, self.thing_ids = config, flow, grid, thing_ids
        self.graph = FrameGraph(window=config.window, radius=config.radius, keyframe_flow=config.keyframe_flow)
        self.keyframes: list[Keyframe] = []
        self._flows: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, float]] = {}  # target, log conf, mean flow
        self.K = torch.tensor(grid.intrinsics, dtype=DT)
        u, v = pixel_grid(grid.height, grid.width, DT, torch.device("cpu"))
        self._grid = torch.stack([u, v], dim=-1)
        self._bottom = grid.height - int(round(config.ignore_bottom * grid.height))
        # Front ends that take an initial flow (DISFlow) start from the flow the predicted pose induces.
        self.guided = bool(config.guided_flow) and "init" in inspect.signature(flow).parameters

    @property
    def empty(self) -> bool:
        return not self.keyframes

    def start(self, frame: Keyframe) -> None:
        """Seed an empty window with its first keyframe (G = identity defines the VO world)."""
        self.keyframes = [frame]
        self.graph.add(frame.frame_id)

    def _predicted_flow(self, src: Keyframe, dst: Keyframe) -> np.ndarray:
        """Flow src -> dst at the flow front end's resolution, induced by the current poses and depths."""
        poses = torch.stack([src.pose, dst.pose])
        disps = torch.stack([src.disps, dst.disps])
        coords, _, _ = projective_transform(poses, disps, self.K, torch.tensor([0]), torch.tensor([1]), jacobian=False)
        factor = src.image.shape[1] // self.grid.width
        flow = ((coords[0] - self._grid) * factor).numpy()
        return cv2.resize(flow, (src.image.shape[1], src.image.shape[0]), interpolation=cv2.INTER_LINEAR)

    def _flow_between(self, a: Keyframe, b: Keyframe) -> None:
        for src, dst in ((a, b), (b, a)):
            if self.guided:
                out = self.flow(src.image, dst.image, init=self._predicted_flow(src, dst))  # type: ignore[call-arg]
            else:
                out = self.flow(src.image, dst.image)
            flow, conf = self.grid.reduce_flow(*out)
            target = self._grid + torch.from_numpy(flow)
            log_conf = torch.from_numpy(np.log(np.maximum(conf, 1e-6)))
            log_conf[self._bottom:] = -100.0
            self._flows[(src.frame_id, dst.frame_id)] = (target, log_conf, mean_flow_magnitude(flow, conf))

    def _edges(self, frames: list[Keyframe], pairs: list[tuple[int, int]]) -> _Edges:
        ii = torch.tensor([a for a, _ in pairs], dtype=torch.long)
        jj = torch.tensor([b for _, b in pairs], dtype=torch.long)
        flows = [self._flows[(frames[a].frame_id, frames[b].frame_id)] for a, b in pairs]
        return _Edges(ii, jj, torch.stack([f[0] for f in flows]), torch.stack([f[1] for f in flows]))

    def _weights(self, edges: _Edges, dynamic: torch.Tensor, poses: torch.Tensor, disps: torch.Tensor,
                 robust: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(E, H, W, 2) confidence and (E, H, W) validity at the current estimate."""
        cfg = self.cfg
        coords, valid, _ = projective_transform(poses, disps, self.K, edges.ii, edges.jj, jacobian=False)
        logit = cfg.logit_prior + edges.log_conf
        if robust:
            r2 = ((edges.target - coords) ** 2).sum(-1) / cfg.residual_scale**2
            logit = logit - r2.clamp(max=cfg.max_residual_penalty)
        if cfg.panoptic:
            logit = logit + (1.0 - dynamic[edges.ii].to(DT)) * cfg.eta
        w = torch.sigmoid(logit) * valid
        return w[..., None].expand(-1, -1, -1, 2).contiguous(), valid

    def track(self, new: Keyframe, moving_ids: set[int]) -> WindowEstimate:
        """Estimate the new frame's pose against the window; keep it as a keyframe if it moved enough."""
        cfg = self.cfg
        last = self.keyframes[-1]
        for kf in self.keyframes[-cfg.radius:]:
            self._flow_between(kf, new)
        is_key = self.graph.is_keyframe(self._flows[(last.frame_id, new.frame_id)][2])
        if is_key:
            measured = {kf.frame_id: self._flows[(kf.frame_id, new.frame_id)][2] for kf in self.keyframes[-cfg.radius:]}
            evicted = self.graph.add(new.frame_id, measured)
            if evicted is not None:
                self.keyframes.pop(0)
                self._flows = {k: f for k, f in self._flows.items() if evicted not in k}
            frames = [*self.keyframes, new]
            ii, jj = self.graph.edges()
            pairs = list(zip(ii.tolist(), jj.tolist(), strict=True))
            t0, motion_only = 1, False
        else:  # motion-only: the window stays fixed, only edges to the new frame
            frames = [*self.keyframes, new]
            n = len(frames) - 1
            pairs = [p for a in range(max(0, n - cfg.radius), n) for p in ((a, n), (n, a))]
            t0, motion_only = n, True
        estimate = self._solve(frames, pairs, t0, moving_ids, motion_only)
        if is_key:
            self.keyframes.append(new)
        else:
            self._flows = {k: f for k, f in self._flows.items() if new.frame_id not in k}
        estimate.keyframe = is_key
        return estimate

    def _dynamic(self, frames: list[Keyframe], moving_ids: set[int]) -> torch.Tensor:
        masks = [dynamic_pixels(f.class_id, f.instance_id, moving_ids, self.thing_ids, self.cfg.untracked_dynamic_classes)
                 for f in frames]
        return torch.from_numpy(np.stack(masks))

    def _solve(self, frames: list[Keyframe], pairs: list[tuple[int, int]], t0: int, moving_ids: set[int],
               motion_only: bool) -> WindowEstimate:
        cfg, new = self.cfg, frames[-1]
        edges = self._edges(frames, pairs)
        poses = torch.stack([f.pose for f in frames])
        disps = torch.stack([f.disps for f in frames])
        sens = torch.stack([f.disps_sens for f in frames])
        raster_c, raster_i = new.class_id, new.instance_id
        steps, pb = 0, None
        for rnd in range(cfg.vps_rounds):
            dynamic = self._dynamic(frames, moving_ids)
            for it in range(cfg.ba_iterations):
                w, _ = self._weights(edges, dynamic, poses, disps, robust=rnd > 0 or it > 0)
                alpha = cfg.depth_prior * float(w.mean())
                pb = BAProblem(self.K, edges.ii, edges.jj, edges.target, w, t0=t0, disps_sens=sens, alpha=alpha)
                poses, disps = ba_step(poses, disps, pb)
                steps += 1
            new.class_id, new.instance_id = self._vps(frames, poses, disps, raster_c, raster_i, moving_ids)
        dynamic = self._dynamic(frames, moving_ids)
        w, valid = self._weights(edges, dynamic, poses, disps, robust=True)
        pb = BAProblem(self.K, edges.ii, edges.jj, edges.target, w, t0=t0, disps_sens=sens, alpha=pb.alpha)
        for k in range(t0 if motion_only else 0, len(frames)):
            frames[k].disps = disps[k]
            if k >= t0:
                frames[k].pose = _plain(poses[k])
        touching = (edges.ii == len(frames) - 1) | (edges.jj == len(frames) - 1)
        coords, _, _ = projective_transform(poses, disps, self.K, edges.ii[touching], edges.jj[touching], jacobian=False)
        residual = (edges.target[touching] - coords).norm(dim=-1)
        consistent = valid[touching] & (edges.log_conf[touching] > np.log(0.5)) & (residual < 2 * cfg.residual_scale)
        confident = consistent.to(DT).mean()
        return WindowEstimate(
            pose=new.pose, covariance=self._covariance(poses, disps, pb, w, valid), keyframe=False,
            static_share=float(confident), dynamic_share=float(dynamic[-1].to(DT).mean()),
            class_id=new.class_id, instance_id=new.instance_id, steps=steps)

    def _vps(self, frames: list[Keyframe], poses: torch.Tensor, disps: torch.Tensor, raster_c: np.ndarray,
             raster_i: np.ndarray, moving_ids: set[int]) -> tuple[np.ndarray, np.ndarray]:
        """Warp the previous keyframe's panoptic image into the new frame (pose + depth, flow on dynamic pixels), fuse."""
        n = len(frames) - 1
        prev = frames[n - 1]
        ii, jj = torch.tensor([n - 1]), torch.tensor([n])
        coords, valid, _ = projective_transform(poses, disps, self.K, ii, jj, jacobian=False)
        flow_target = self._flows[(prev.frame_id, frames[n].frame_id)][0]
        dyn = torch.from_numpy(dynamic_pixels(prev.class_id, prev.instance_id, moving_ids, self.thing_ids,
                                              self.cfg.untracked_dynamic_classes))
        coords = torch.where(dyn[..., None], flow_target, coords[0])
        warped_c, warped_i = warp_labels(prev.class_id, prev.instance_id, coords.numpy(), valid[0].numpy(),
                                         disps[n - 1].numpy())
        return fuse_panoptic(raster_c, raster_i, warped_c, warped_i, self.cfg.iou_match)

    def _covariance(self, poses: torch.Tensor, disps: torch.Tensor, pb: BAProblem, w: torch.Tensor,
                    valid: torch.Tensor) -> np.ndarray:
        return pose_covariance(poses, disps, self.K, pb, w)


def pose_covariance(poses: torch.Tensor, disps: torch.Tensor, K: torch.Tensor, pb: BAProblem, w: torch.Tensor) -> np.ndarray:
    """Marginal covariance of the last pose: sigma^2 (S^-1) block, sigma^2 from the weighted residuals.

    sigma^2 = chi2 / (n_eff - p) with Kish's effective number of observations n_eff = (sum w)^2 / sum w^2, so
    the covariance does not change when all weights are scaled alike. Dividing by sum(w) did: the baseline's
    unboosted weights are about e^-12, sum(w) fell below the pose count and the clamp to one degree of freedom
    made its covariance hundreds of times too large (NEES on validation frames, docs/odometry.md)."""
    system = schur_system(poses, disps, pb)
    coords, _, _ = projective_transform(poses, disps, K, pb.ii, pb.jj, jacobian=False)
    chi2 = float((w.double() * (pb.target - coords).double() ** 2).sum())
    w64 = w.double()
    n_eff = float(w64.sum() ** 2 / (w64**2).sum().clamp(min=1e-300))
    dof = max(n_eff - system.S.shape[0], 1.0)
    S = system.S.double()
    cov = torch.linalg.inv(S)[-6:, -6:] * (chi2 / dof)
    return (0.5 * (cov + cov.T)).numpy()


def _plain(pose: torch.Tensor) -> torch.Tensor:
    return pose.tensor() if hasattr(pose, "tensor") else pose


def no_labels(grid: ReducedGrid) -> tuple[np.ndarray, np.ndarray]:
    shape = (grid.height, grid.width)
    return np.full(shape, NO_LABEL, np.int64), np.full(shape, NO_LABEL, np.int64)
