/**
 * GPU node models for synthetic fleets (`fleet-generator.ts`, shapes `gpu-mixed` and `gpu-mixed-owned`): the
 * machines a mixed CPU/GPU estate runs, and what such a node shows Kubernetes once the NVIDIA GPU operator has
 * set it up — its labels, its taint and the resources its device plugin advertises.
 *
 * A node is set up in one of three ways:
 * - `whole`: every device is one `nvidia.com/gpu`.
 * - `time-sliced`: each device is shared by `replicas` pods; the node advertises devices × replicas
 *   `nvidia.com/gpu`, and the operator labels it `nvidia.com/gpu.replicas` and suffixes its product `-SHARED`
 *   (the device plugin's `renameByDefault: false`).
 * - `mig`: every device is split into MIG instances, advertised as resources of their own
 *   (`nvidia.com/mig-1g.10gb`…) under the operator's `mixed` MIG strategy; the node has no `nvidia.com/gpu`.
 *
 * Pure data and pure functions; no dependency.
 */

/** The resource of one whole GPU (or one time-sliced replica of one). */
export const gpuResource = "nvidia.com/gpu";

/** The labels the GPU operator (GPU feature discovery) puts on a GPU node. */
export const gpuLabels = {
  present: "nvidia.com/gpu.present",
  /** The device's product name, `-SHARED` appended on time-sliced nodes. */
  product: "nvidia.com/gpu.product",
  /** Physical devices on the node. */
  count: "nvidia.com/gpu.count",
  /** Memory of one device in MiB. */
  memory: "nvidia.com/gpu.memory",
  family: "nvidia.com/gpu.family",
  /** Pods sharing one device (time-slicing); absent on other nodes. */
  replicas: "nvidia.com/gpu.replicas",
  sharingStrategy: "nvidia.com/gpu.sharing-strategy",
  migConfig: "nvidia.com/mig.config",
  migStrategy: "nvidia.com/mig.strategy",
} as const;

/** The taint the GPU nodes of most estates carry, so that only pods tolerating it land there. */
export const gpuTaint = { key: gpuResource, value: "present", effect: "NoSchedule" } as const;

/** The toleration of GPU pods for `gpuTaint`. */
export const gpuToleration = { key: gpuResource, operator: "Exists", effect: "NoSchedule" } as const;

/** A machine with GPUs: its instance type, devices, and the cpu and memory beside them. */
export interface GpuMachine {
  /** Short name, used in node names (`a100`). */
  id: string;
  instanceType: string;
  product: string;
  devices: number;
  /** Memory of one device, MiB (as `nvidia.com/gpu.memory` says it). */
  deviceMemoryMi: number;
  family: string;
  cpu: number;
  memoryGi: number;
}

export const gpuMachines = {
  a100: {
    id: "a100",
    instanceType: "p4de.24xlarge",
    product: "NVIDIA-A100-SXM4-80GB",
    devices: 8,
    deviceMemoryMi: 81920,
    family: "ampere",
    cpu: 96,
    memoryGi: 1152,
  },
  h100: {
    id: "h100",
    instanceType: "p5.48xlarge",
    product: "NVIDIA-H100-80GB-HBM3",
    devices: 8,
    deviceMemoryMi: 81559,
    family: "hopper",
    cpu: 192,
    memoryGi: 2048,
  },
  l4: {
    id: "l4",
    instanceType: "g6.12xlarge",
    product: "NVIDIA-L4",
    devices: 4,
    deviceMemoryMi: 23034,
    family: "ada-lovelace",
    cpu: 48,
    memoryGi: 192,
  },
  t4: {
    id: "t4",
    instanceType: "g4dn.2xlarge",
    product: "Tesla-T4",
    devices: 1,
    deviceMemoryMi: 15360,
    family: "turing",
    cpu: 8,
    memoryGi: 32,
  },
} as const satisfies Record<string, GpuMachine>;
export type GpuMachineId = keyof typeof gpuMachines;

/** MIG profiles and the compute slices (of seven) each takes, on the 80 GB A100 and H100. */
export const migSlices = { "1g.10gb": 1, "2g.20gb": 2, "3g.40gb": 3 } as const;
export type MigProfile = keyof typeof migSlices;

/** How a node's devices are offered to pods. */
export type GpuSetup =
  | { kind: "whole" }
  | { kind: "time-sliced"; replicas: number }
  /** `perDevice`: instances of each profile on one device (as the mig-manager's named configs split it). */
  | { kind: "mig"; config: string; perDevice: Partial<Record<MigProfile, number>> };

/** A node model of a GPU pool: a machine and how its devices are set up. */
export interface GpuNodeModel {
  /** Pool name in node names (`a100-mig`). */
  id: string;
  machine: GpuMachineId;
  setup: GpuSetup;
}

/** The node models a synthetic estate draws its GPU pools from. */
export const gpuNodeModels = {
  a100: { id: "a100", machine: "a100", setup: { kind: "whole" } },
  "a100-mig": {
    id: "a100-mig",
    machine: "a100",
    setup: { kind: "mig", config: "all-1g.10gb", perDevice: { "1g.10gb": 7 } },
  },
  h100: { id: "h100", machine: "h100", setup: { kind: "whole" } },
  "h100-mig": {
    id: "h100-mig",
    machine: "h100",
    setup: { kind: "mig", config: "all-balanced", perDevice: { "1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1 } },
  },
  l4: { id: "l4", machine: "l4", setup: { kind: "whole" } },
  "l4-shared": { id: "l4-shared", machine: "l4", setup: { kind: "time-sliced", replicas: 4 } },
  t4: { id: "t4", machine: "t4", setup: { kind: "whole" } },
  "t4-shared": { id: "t4-shared", machine: "t4", setup: { kind: "time-sliced", replicas: 8 } },
} as const satisfies Record<string, GpuNodeModel>;
export type GpuNodeModelId = keyof typeof gpuNodeModels;

/** The resource of one instance of a MIG profile (`nvidia.com/mig-1g.10gb`). */
export const migResource = (profile: MigProfile) => `nvidia.com/mig-${profile}`;

/** The product label of a node model: the device's product, `-SHARED` when time-sliced. */
export function productOf(model: GpuNodeModel): string {
  const product = gpuMachines[model.machine].product;
  return model.setup.kind === "time-sliced" ? `${product}-SHARED` : product;
}

/**
 * What a node of the model offers pods in GPUs: one entry per resource, with its count and the share of the
 * node (of 1) one unit stands for — the yardstick for the cpu and memory a pod of that resource asks for.
 */
export function gpuUnitsOf(model: GpuNodeModel): { resource: string; count: number; share: number }[] {
  const devices = gpuMachines[model.machine].devices;
  const setup: GpuSetup = model.setup;
  switch (setup.kind) {
    case "whole":
      return [{ resource: gpuResource, count: devices, share: 1 / devices }];
    case "time-sliced":
      return [
        { resource: gpuResource, count: devices * setup.replicas, share: 1 / (devices * setup.replicas) },
      ];
    case "mig":
      return Object.entries(setup.perDevice).map(([profile, perDevice]) => ({
        resource: migResource(profile as MigProfile),
        count: devices * (perDevice ?? 0),
        share: migSlices[profile as MigProfile] / (7 * devices),
      }));
  }
}

/** The GPU operator's labels on a node of the model. */
export function gpuLabelsOf(model: GpuNodeModel): Record<string, string> {
  const machine = gpuMachines[model.machine];
  const setup: GpuSetup = model.setup;
  const labels: Record<string, string> = {
    [gpuLabels.present]: "true",
    [gpuLabels.product]: productOf(model),
    [gpuLabels.count]: String(machine.devices),
    [gpuLabels.memory]: String(machine.deviceMemoryMi),
    [gpuLabels.family]: machine.family,
    [gpuLabels.sharingStrategy]: setup.kind === "time-sliced" ? "time-slicing" : "none",
  };
  if (setup.kind === "time-sliced") labels[gpuLabels.replicas] = String(setup.replicas);
  if (setup.kind === "mig") {
    labels[gpuLabels.migConfig] = setup.config;
    labels[gpuLabels.migStrategy] = "mixed";
    for (const unit of gpuUnitsOf(model)) labels[`${unit.resource}.count`] = String(unit.count);
  }
  return labels;
}
