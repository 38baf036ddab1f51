// Type-checked only, as a browser project sees the packages: DOM and ES libraries, no @types/node.

import { finalScaleScore, readLikelihoodOutput } from '@hierglow/anomaly-metrics';
import { auroc } from '@hierglow/anomaly-metrics/metrics';
import * as fl from '@hierglow/flow-layers';
import { checkJacobianLogDet, seededNormal } from '@hierglow/flow-layers/testing';
import { createModel, restoreModelFromBytes } from '@hierglow/glow';

export async function scoreInPage(files: Map<string, Uint8Array>): Promise<number> {
  const { model } = await restoreModelFromBytes(files, createModel, { name: 'fetched' });
  const images = seededNormal([2, 4, 4, 1], 1, 0.1);
  const arrays = await readLikelihoodOutput(model.logProb(images));
  const flow = new fl.NormalizingFlow(new fl.StandardNormal([2]), new fl.ActNorm({ shape: [2] }));
  checkJacobianLogDet(flow.bijector, seededNormal([2, 2], 2));
  const page: HTMLElement | null = document.querySelector('#result');
  const separation = auroc(finalScaleScore(arrays), [0]);
  if (page) page.textContent = String(separation);
  return separation;
}
