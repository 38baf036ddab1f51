/**
 * Side-effect import: registers tfjs-core's gradient functions so `tf.grad` and
 * `tf.variableGrads` work under plain `node`, not only under bundlers that pick tfjs-core's
 * ES build. See `scripts/bundle-gradients.mjs` for why this is a generated bundle.
 */
// tfjs-core first: the bundle carries its own copy of tfjs-core's engine code, and whichever
// copy loads first creates the engine every copy shares (on globalThis). It must be the real
// one, whose tensors have their ops attached.
import '@tensorflow/tfjs-core';
import './generated/tfjs-gradients.js';
