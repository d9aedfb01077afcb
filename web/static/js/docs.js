// The API reference: Swagger UI started from a file, not an inline script (the CSP allows none).
const box = document.getElementById("swagger-ui");
// validatorUrl null: no badge fetched from the validator's public site.
window.SwaggerUIBundle({ url: box.dataset.openapi, domNode: box, deepLinking: true, validatorUrl: null });
