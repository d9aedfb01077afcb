// The API reference: Swagger UI started from a file, not an inline script (the CSP allows none).
const box = document.getElementById("swagger-ui");
window.SwaggerUIBundle({ url: box.dataset.openapi, domNode: box, deepLinking: true });
