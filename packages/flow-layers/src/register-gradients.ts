/**
 * Side-effect import: registers tfjs-core's gradient functions so `tf.grad` and
 * `tf.variableGrads` work under plain `node`, not only under bundlers that pick tfjs-core's
 * ES build. See `scripts/bundle-gradients.mjs` for why this is a generated bundle.
 */
import './generated/tfjs-gradients.js';
