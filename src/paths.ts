/** Where flannelctl keeps its own state on a host (shared by the commands' defaults and the code). */
export const DEFAULT_STATE_DIR = '/run/flannelctl'
export const DEFAULT_LAB_ROOT = '/run/flannelctl/lab'
