import { strategySuite } from '../helpers/strategy-suite.js';

// copy runs in a helper container here (MAYFLY_LOCAL_VOLUMES=off, the path of a remote engine);
// reflink (seeds-reflink-overlay) is copied by the worker on the host.
strategySuite('copy', 'helper');
strategySuite('restore');
