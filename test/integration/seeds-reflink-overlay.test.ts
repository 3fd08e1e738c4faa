import { strategySuite } from '../helpers/strategy-suite.js';

// This machine's set-up puts Docker volumes on XFS with reflink, and the kernel has overlayfs:
// both strategies work here, and the tests fail (they never skip) if they do not.
strategySuite('reflink');
strategySuite('overlay');
