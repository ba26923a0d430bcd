// What every API action sees: the request's parameters, the state and the engine.
import type { Clock } from '../../shared/clock.js';
import type { RpcParamReader } from '../api-params.js';
import type { LabStore } from '../store.js';
import type { OtaEngine } from '../ota-engine.js';
import type { Firmware } from '../model.js';
import { apiError } from '../api-error.js';

export interface ActionContext {
  params: RpcParamReader;
  store: LabStore;
  engine: OtaEngine;
  clock: Clock;
  /** Which status filter ListOTAUnfinishedTaskByDevice takes (`ota-lab start --unfinished-filter`). */
  unfinishedFilter: 'task-status' | 'task-status-list';
}

/** The body fields an action adds to the envelope (`Data`, `FirmwareInfo`, paging, …). */
export type ActionResult = Record<string, unknown>;
export type ActionHandler = (ctx: ActionContext) => ActionResult;

export function findFirmware(ctx: ActionContext, firmwareId: string): Firmware {
  const fw = ctx.store.find.firmware(firmwareId);
  if (!fw) throw apiError('iot.ota.FirmwareNotFound', `The firmware ${JSON.stringify(firmwareId)} does not exist.`);
  return fw;
}

export function requireProduct(ctx: ActionContext, productKey: string): void {
  if (!ctx.store.state.products.some((p) => p.productKey === productKey)) {
    throw apiError('iot.prod.NotExistedProduct', `The product ${JSON.stringify(productKey)} does not exist.`);
  }
}

/** The product's name, as answers that carry ProductName give it. */
export function productName(ctx: ActionContext, productKey: string): string {
  return ctx.store.state.products.find((p) => p.productKey === productKey)?.productName ?? '';
}

/** Paging as the list APIs take it: PageSize 1..max, CurrentPage from 1. */
export function page<T>(ctx: ActionContext, items: T[], maxPageSize: number): { rows: T[]; paging: Record<string, number> } {
  const pageSize = ctx.params.optInt('PageSize', 1, maxPageSize) ?? 10;
  const current = ctx.params.optInt('CurrentPage', 1, 1_000_000) ?? 1;
  const start = (current - 1) * pageSize;
  return {
    rows: items.slice(start, start + pageSize),
    paging: { Total: items.length, PageSize: pageSize, PageCount: Math.ceil(items.length / pageSize), CurrentPage: current },
  };
}
