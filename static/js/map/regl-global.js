// regl ships as a classic script that defines window.createREGL (loaded by the page before
// any module); the scatter plot's module build imports it by name, through the import map.
export default window.createREGL;
